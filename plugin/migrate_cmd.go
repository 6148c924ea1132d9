package plugin

import (
	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/migrate"
)

func newMigrateCommand() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "migrate [FILE|DIR|-]...",
		Short: "Rewrite Applications from argocd-image-updater to this plugin",
		Long: `migrate reads Argo CD Applications that carry argocd-image-updater's
annotations, and ImageUpdater resources with the Applications they select,
and prints the Applications rewritten to use the plugin: a YAML stream on
standard output, in input order (a List stays a List).

The images and their settings become the "images" and "image-options"
parameters, the source's helm, kustomize and directory settings move to the
plugin's parameters, and the argocd-image-updater annotations are removed.
Other objects and Applications that argocd-image-updater did not update are
printed unchanged; ImageUpdaters are not printed.

Standard error gets a report, one line per finding:
  error:  could not be converted; the output behaves differently, or the
          Application was left unchanged
  action: converted; something outside the Application must change (a
          write-back file in git to delete, an ImageUpdater to delete)
  note:   removed because the plugin does not need it, or changed on the way

Arguments are files, directories (their *.yaml, *.yml and *.json files, not
those of sub-directories) and "-" for standard input; no argument reads
standard input. With --check the exit code is non-zero when the report has
an error.`,
		Example: `  # Convert the Applications of a cluster
  kubectl get applications -n argocd -o yaml | argocd-image-resolver migrate > applications.yaml

  # Convert the Applications and ImageUpdaters of a folder; fail on what cannot be converted
  argocd-image-resolver migrate --check apps/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			inputs, err := migrate.ReadInputs(args, cmd.InOrStdin())
			if err != nil {
				return err
			}
			name, err := pluginName()
			if err != nil {
				return err
			}
			res, err := migrate.Migrate(inputs, migrate.Options{PluginName: name})
			if err != nil {
				return err
			}
			if err := res.WriteYAML(cmd.OutOrStdout()); err != nil {
				return err
			}
			if err := res.Report.Write(cmd.ErrOrStderr()); err != nil {
				return err
			}
			if check {
				return res.Report.Check()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "exit non-zero when something could not be converted (a report line starting with error:)")
	return cmd
}

// pluginName is the name Applications select the plugin by, from the
// plugin.yaml built into the binary.
func pluginName() (string, error) {
	p, err := cmp.LoadPluginConfig("")
	if err != nil {
		return "", err
	}
	if v := p.Spec.Version; v != "" {
		return p.Metadata.Name + "-" + v, nil
	}
	return p.Metadata.Name, nil
}
