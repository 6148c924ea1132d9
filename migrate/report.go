package migrate

import (
	"fmt"
	"io"
)

// Severity says what a finding asks of the reader.
type Severity int

const (
	// Note: nothing to do. Something was left out because the plugin does
	// not need it (write-back settings, force-update), or something was
	// changed on the way and the report says how.
	Note Severity = iota
	// Action: the Application was converted, and something outside it must
	// change too: a write-back file to delete from git, entries that
	// argocd-image-updater wrote to review, an ImageUpdater to delete.
	Action
	// Error: something could not be converted; the output would behave
	// differently from what argocd-image-updater did, or the Application
	// was left as it was. `migrate --check` fails when there is one.
	Error
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Action:
		return "action"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Finding is one line of the report: about one object, one setting.
type Finding struct {
	Severity Severity
	// Kind is the kind of object, in lower case: "app", "imageupdater",
	// "applicationset".
	Kind string
	// Object is "<namespace>/<name>", or "<name>" without a namespace.
	Object string
	// What names the setting (an annotation, a field, a file).
	What string
	// Why says what happened to it and what to do.
	Why string
}

// String is the report line: `<severity>: <kind> <object>: <what>: <why>`.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s %s: %s: %s", f.Severity, f.Kind, f.Object, f.What, f.Why)
}

// Report is what a migration found, in input order.
type Report struct {
	Findings []Finding
}

// Count returns how many findings have severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Check returns an *UnconvertedError when the report holds errors.
func (r *Report) Check() error {
	if n := r.Count(Error); n > 0 {
		return &UnconvertedError{Count: n}
	}
	return nil
}

// Write writes one line per finding.
func (r *Report) Write(w io.Writer) error {
	for _, f := range r.Findings {
		if _, err := fmt.Fprintln(w, f.String()); err != nil {
			return err
		}
	}
	return nil
}

// findings collects the findings about one object.
type findings struct {
	kind, object string
	list         []Finding
}

func newFindings(kind, namespace, name string) *findings {
	return &findings{kind: kind, object: objectName(namespace, name)}
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func (f *findings) add(s Severity, what, why string, args ...any) {
	if len(args) > 0 {
		why = fmt.Sprintf(why, args...)
	}
	f.list = append(f.list, Finding{Severity: s, Kind: f.kind, Object: f.object, What: what, Why: why})
}

func (f *findings) note(what, why string, args ...any)   { f.add(Note, what, why, args...) }
func (f *findings) action(what, why string, args ...any) { f.add(Action, what, why, args...) }
func (f *findings) error(what, why string, args ...any)  { f.add(Error, what, why, args...) }

// unsupported reports a setting, when set, that the plugin has no
// equivalent for.
func (f *findings) unsupported(field string, set bool, why string) {
	if set {
		f.error(field, "no equivalent in the plugin (%s); not converted", why)
	}
}
