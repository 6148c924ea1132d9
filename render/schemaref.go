package render

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v3/pkg/chart"
)

// SchemaReferenceError is a $ref or $schema of a chart's values.schema.json
// that leads outside the chart: the render fails rather than fetch a URL
// or read a file of the sidecar.
type SchemaReferenceError struct {
	// Chart is the chart (a sub-chart by its alias) whose schema refers.
	Chart string
	// Ref is the reference resolved against the schema's location, as
	// the validator asked for it: relative references read
	// file:///<path in the chart>.
	Ref string
}

// maxShownRef bounds the reference repeated in the message.
const maxShownRef = 200

func (e *SchemaReferenceError) Error() string {
	ref := e.Ref
	if len(ref) > maxShownRef {
		ref = ref[:maxShownRef] + "..."
	}
	return fmt.Sprintf("chart %s: values.schema.json refers to %q, which is outside the chart: schema references may point inside the schema (#/...) "+
		"or, by a relative path, to a JSON file of the chart (schemas/image.json); the plugin fetches no URL and reads no other file for a schema "+
		"(the json-schema.org meta-schemas are built in); copy the referenced schema into the chart",
		e.Chart, ref)
}

// errOutsideChart is what schemaLoader answers the validator for a
// refused reference; validateSchema reports the reference instead.
var errOutsideChart = errors.New("schema reference outside the chart")

// schemaLoader answers the validator's requests for schema documents
// other than the one it was given and the meta-schemas it bundles (those
// are resolved before a loader is asked): a file:/// URL is the chart's
// own file at that path, read from the loaded chart and never from disk;
// a urn: reference is the permissive schema `true`, as Helm treats an
// unresolved URN; anything else is refused and remembered.
type schemaLoader struct {
	chart   *chart.Chart
	refused string // the first reference refused
}

func (l *schemaLoader) Load(raw string) (any, error) {
	u, err := url.Parse(raw)
	if err == nil {
		switch u.Scheme {
		case "file":
			if data, ok := l.chartFile(u); ok {
				return jsonschema.UnmarshalJSON(bytes.NewReader(data))
			}
		case "urn":
			return true, nil
		}
	}
	if l.refused == "" {
		l.refused = raw
	}
	return nil, errOutsideChart
}

// chartFile is the file of the chart a file: URL names, relative to the
// chart's root. URLs naming a host, a query or an opaque path are not
// the chart's.
func (l *schemaLoader) chartFile(u *url.URL) ([]byte, bool) {
	if u.Host != "" || u.Opaque != "" || u.RawQuery != "" || !strings.HasPrefix(u.Path, "/") {
		return nil, false
	}
	name := strings.TrimPrefix(path.Clean(u.Path), "/")
	for _, f := range l.chart.Files {
		if f != nil && f.Name == name {
			return f.Data, true
		}
	}
	return nil, false
}
