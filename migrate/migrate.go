// Package migrate converts Argo CD Applications from argocd-image-updater
// to the image-resolver plugin, for the `migrate` command.
//
// It reads Applications that carry argocd-image-updater's annotations, and
// its ImageUpdater resources with the Applications they select, and
// rewrites each such Application's source to use the plugin: the images
// and their settings become the plugin's images and image-options
// parameters, the source's helm, kustomize or directory settings become
// the plugin's parameters of the same meaning, and the
// argocd-image-updater annotations go. What has no equivalent, what is no
// longer needed (the write-back settings) and what must change outside the
// Application (write-back files in git) is reported, one Finding each.
//
// Everything else is written out as it came in: Applications that
// argocd-image-updater did not update, other objects, and the fields of a
// converted Application outside its source. ImageUpdaters are not written
// out; the report names the Applications that replace them.
package migrate

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Options configure Migrate.
type Options struct {
	// PluginName is the plugin name the converted sources select:
	// plugin.yaml's metadata.name, with "-<version>" when it sets a
	// version.
	PluginName string
}

// Result is the converted input and the report.
type Result struct {
	docs   []*document
	Report Report
}

// Migrate converts the inputs. An error means the input could not be read
// (it names the file and document); what could not be converted is in the
// report instead.
func Migrate(inputs []Input, opts Options) (*Result, error) {
	if opts.PluginName == "" {
		return nil, errors.New("migrate: no plugin name")
	}
	docs, err := readDocuments(inputs)
	if err != nil {
		return nil, err
	}
	var apps []*application
	var updaters []*imageUpdater
	for _, d := range docs {
		for _, e := range d.entries {
			switch {
			case isArgoKind(e.obj, "Application"):
				a, err := decodeApplication(e)
				if err != nil {
					return nil, err
				}
				apps = append(apps, a)
			case isImageUpdater(e.obj):
				u, err := decodeImageUpdater(e)
				if err != nil {
					return nil, err
				}
				e.out = nil
				updaters = append(updaters, u)
			case isArgoKind(e.obj, "ApplicationSet"):
				applicationSet(e)
			}
		}
	}
	selectApplications(apps, updaters)
	for _, a := range apps {
		a.convert(opts.PluginName)
		a.entry.findings = append(a.entry.findings, a.f.list...)
	}
	for _, u := range updaters {
		u.summarize()
		u.entry.findings = append(u.entry.findings, u.f.list...)
	}
	r := &Result{docs: docs}
	for _, d := range docs {
		for _, e := range d.entries {
			r.Report.Findings = append(r.Report.Findings, e.findings...)
		}
	}
	return r, nil
}

// selectApplications gives each Application the first applicationRef, of
// the ImageUpdaters in input order, that selects it.
func selectApplications(apps []*application, updaters []*imageUpdater) {
	for _, u := range updaters {
		reported := map[int]bool{}
		for _, a := range apps {
			i := u.selects(&a.app, reported)
			if i < 0 {
				continue
			}
			if a.updater != nil {
				a.f.error(u.refField(refPath(i)), "also selects the Application, which is converted with %s only; check which one argocd-image-updater used",
					a.updater.refField(refPath(a.ref)))
				continue
			}
			a.updater, a.ref = u, i
			u.selected = append(u.selected, a.f.object)
		}
	}
}

// summarize reports what became of the ImageUpdater.
func (u *imageUpdater) summarize() {
	if len(u.selected) == 0 {
		u.f.note("not output", "it selects no Application of the input")
		return
	}
	u.f.action("not output", "the plugin parameters of %s replace it; once they are applied, delete it from the cluster (and git), so that argocd-image-updater stops updating them",
		strings.Join(u.selected, ", "))
}

// WriteYAML writes the output as a YAML stream in input order, "---"
// between documents. A List document stays a List, without the
// ImageUpdaters among its items.
func (r *Result) WriteYAML(w io.Writer) error {
	first := true
	for _, d := range r.docs {
		var obj map[string]any
		if d.isList {
			obj = d.obj
			if _, present := obj["items"]; present {
				items := []any{}
				for _, e := range d.entries {
					if e.out != nil {
						items = append(items, e.out)
					}
				}
				obj["items"] = items
			}
		} else {
			obj = d.entries[0].out
		}
		if obj == nil {
			continue
		}
		data, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", d.at.file, d.at.doc, err)
		}
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		first = false
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}
