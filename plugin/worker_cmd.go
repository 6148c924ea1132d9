package plugin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/worker"
)

// renderWorkerCommand is the hidden command serve runs its render workers
// with: this binary again, rendering on file descriptors 3 and 4.
const renderWorkerCommand = "render-worker"

type renderWorkerOptions struct {
	logFormat string
	logLevel  string
	maxOutput int64
}

func newRenderWorkerCommand() *cobra.Command {
	o := &renderWorkerOptions{}
	cmd := &cobra.Command{
		Use:    renderWorkerCommand,
		Short:  "Render Helm charts and build kustomizations for serve (started by serve, not by people)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRenderWorker(cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	addLogFlags(f, &o.logFormat, &o.logLevel)
	f.Int64Var(&o.maxOutput, "max-output", worker.DefaultMaxOutput, "largest manifests of one render, in bytes")
	return cmd
}

func runRenderWorker(logOut io.Writer, o *renderWorkerOptions) error {
	logger, err := newLogger(logOut, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	// A worker renders author input: what it fetches goes through the
	// egress transports it builds itself. Kustomize's remote loaders use
	// the default transport, so it refuses everything in this process
	// (the kustomization screen refuses remote references first; this is
	// the second wall).
	http.DefaultTransport = refusedTransport{}
	in, out := os.NewFile(3, "render-requests"), os.NewFile(4, "render-answers")
	if in == nil || out == nil {
		return errors.New("render-worker: file descriptors 3 and 4 are not open; serve starts this command, people do not")
	}
	return worker.Serve(in, out, logger.With("component", "render-worker", "pid", os.Getpid()), o.maxOutput)
}

// workerCommand returns how serve starts a render worker: this executable
// with the render-worker command and serve's log settings.
func workerCommand(logFormat, logLevel string, maxOutput int64) (func() *exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this executable to start render workers: %w", err)
	}
	if logFormat == "" {
		logFormat = "json" // the workers' stderr is not a terminal
		if isTerminal(os.Stderr) {
			logFormat = "text"
		}
	}
	args := []string{renderWorkerCommand, "--log-format", logFormat, "--log-level", logLevel, "--max-output", strconv.FormatInt(maxOutput, 10)}
	return func() *exec.Cmd { return exec.Command(exe, args...) }, nil
}

// RunIfRenderWorker runs this process as a render worker when args (the
// process's os.Args) name the render-worker command, and returns its exit
// code and true; otherwise it returns false. Test binaries that run serve
// in process call it first in TestMain: serve's workers are then the test
// binary itself.
func RunIfRenderWorker(args []string) (int, bool) {
	if len(args) < 2 || args[1] != renderWorkerCommand {
		return 0, false
	}
	root := NewRootCommand()
	root.SetArgs(args[1:])
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1, true
	}
	return 0, true
}

// NoNetworkError is a request a render worker made through the default
// transport, which it never allows.
type NoNetworkError struct{ URL string }

func (e *NoNetworkError) Error() string {
	return fmt.Sprintf("render worker: no request goes out through the default transport (%s): renders fetch only through the plugin's connection rules", e.URL)
}

// refusedTransport is the default transport of a render worker.
type refusedTransport struct{}

func (refusedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, &NoNetworkError{URL: r.URL.Redacted()}
}
