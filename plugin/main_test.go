package plugin

import (
	"os"
	"testing"
)

// TestMain lets this test binary be the render workers of the serve
// commands the tests run in process.
func TestMain(m *testing.M) {
	if code, ok := RunIfRenderWorker(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
