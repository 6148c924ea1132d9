// Package plugin is the program: its commands, flag and configuration
// loading, and the wiring of the other packages.
package plugin

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags -X.
var version = "dev"

// Execute runs the command line and exits non-zero on error.
func Execute() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := NewRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// NewRootCommand builds the command tree. Tests call it to run commands in
// process.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "argocd-image-resolver",
		Short: "Argo CD plugin that renders Helm charts with image versions resolved from the registry",
		Long: `argocd-image-resolver runs beside argocd-repo-server as a Config Management
Plugin. When Argo CD renders an Application it asks the registry which image
version the Application's policy allows, injects it as Helm values and returns
the rendered manifests. Nothing is committed to git.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand())
	root.AddCommand(newServeCommand())
	root.AddCommand(newGenerateCommand())
	root.AddCommand(newResolveCommand())
	root.AddCommand(newNotifyCommand())
	root.AddCommand(newCacheCommand())
	root.AddCommand(newDemoCommand())
	root.AddCommand(newMigrateCommand())
	root.AddCommand(newRenderWorkerCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "argocd-image-resolver", version)
			return err
		},
	}
}
