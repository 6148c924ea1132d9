package loop

import (
	"os"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
)

// TestMain lets this test binary be the render workers of the serve
// command the tests run in process.
func TestMain(m *testing.M) {
	if code, ok := plugin.RunIfRenderWorker(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
