package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// Values are checked against the charts' values.schema.json here rather
// than by Helm: Helm's checker follows every $ref and $schema of the
// schema, fetching http(s) URLs with a client of its own (no egress rules,
// no byte cap) and reading file:// URLs from the sidecar's disk, and the
// schema is author input. This one resolves references only inside the
// schema and to files of the chart (schemaLoader); everything else fails
// the render. The checks and their messages are otherwise Helm's
// (chartutil.ValidateAgainstSchema).

// schemaLocation is where each schema document is placed for the
// validator, as Helm places it: relative references resolve against it
// (to file:///<path in the chart>) and Helm strips it from messages.
const schemaLocation = "file:///values.schema.json"

// SchemaError is values that do not meet the values.schema.json of the
// chart or of its sub-charts. The message is Helm's.
type SchemaError struct {
	// Report is Helm's report: for each failing chart its name, then its
	// failures.
	Report string
	// Errs are the validator's errors behind the report.
	Errs []error
}

func (e *SchemaError) Error() string {
	return "values don't meet the specifications of the schema(s) in the following chart(s):\n" + e.Report
}

func (e *SchemaError) Unwrap() []error { return e.Errs }

// validateValues checks vals (the values the render is given, images
// injected) against the schemas of ch and of the sub-charts the values
// enable, as Helm's install does: dependency conditions, tags, aliases and
// import-values applied first, on a copy of the chart tree (Helm changes
// the tree it processes), then the values coalesced.
func validateValues(ch *chart.Chart, vals map[string]interface{}) error {
	if !hasSchema(ch) {
		return nil
	}
	c := cloneChartTree(ch)
	if err := chartutil.ProcessDependenciesWithMerge(c, deepCopyMap(vals)); err != nil {
		return err
	}
	coalesced, err := chartutil.CoalesceValues(c, deepCopyMap(vals))
	if err != nil {
		return err
	}
	var report strings.Builder
	var errs []error
	if err := validateTree(c, coalesced, &report, &errs); err != nil {
		return err
	}
	if report.Len() > 0 {
		return &SchemaError{Report: report.String(), Errs: errs}
	}
	return nil
}

// validateTree is chartutil.ValidateAgainstSchema with the safe checker:
// the chart's schema, then each sub-chart's with the values under its
// name. A refused reference ends the check; failures are collected.
func validateTree(c *chart.Chart, values map[string]interface{}, report *strings.Builder, errs *[]error) error {
	if c.Schema != nil {
		err := validateSchema(c, values)
		var refused *SchemaReferenceError
		if errors.As(err, &refused) {
			return err
		}
		if err != nil {
			fmt.Fprintf(report, "%s:\n", c.Name())
			report.WriteString(err.Error())
			*errs = append(*errs, err)
		}
	}
	for _, sub := range c.Dependencies() {
		raw, ok := values[sub.Name()]
		if !ok || raw == nil {
			continue
		}
		subValues, ok := raw.(map[string]interface{})
		if !ok {
			fmt.Fprintf(report, "%s:\ninvalid type for values: expected object (map), got %T\n", sub.Name(), raw)
			continue
		}
		if err := validateTree(sub, subValues, report, errs); err != nil {
			return err
		}
	}
	return nil
}

// validateSchema checks values against the schema of c alone (Helm's
// ValidateAgainstSingleSchema): a *SchemaReferenceError when the schema
// refers outside the chart, a *schemaFailure when the values fail it, or
// the error compiling the schema.
func validateSchema(c *chart.Chart, values map[string]interface{}) (reterr error) {
	defer func() {
		if r := recover(); r != nil {
			reterr = fmt.Errorf("unable to validate schema: %s", r)
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.Schema))
	if err != nil {
		return err
	}
	loader := &schemaLoader{chart: c}
	compiler := jsonschema.NewCompiler()
	compiler.UseLoader(loader)
	if err := compiler.AddResource(schemaLocation, doc); err != nil {
		return err
	}
	schema, err := compiler.Compile(schemaLocation)
	if loader.refused != "" {
		// Whatever the compiler made of the refusal, the reference is
		// the cause.
		return &SchemaReferenceError{Chart: c.Name(), Ref: loader.refused}
	}
	if err != nil {
		return err
	}
	if err := schema.Validate(chartutil.Values(values).AsMap()); err != nil {
		return &schemaFailure{err: err}
	}
	return nil
}

// schemaFailure is the validator's verdict in Helm's words
// (chartutil.JSONSchemaValidationError): its first line, which names the
// schema location, left out.
type schemaFailure struct{ err error }

func (e *schemaFailure) Error() string {
	return strings.TrimPrefix(e.err.Error(), "jsonschema validation failed with '"+schemaLocation+"#'\n") + "\n"
}

func (e *schemaFailure) Unwrap() error { return e.err }

// hasSchema reports whether c or any chart below it has a schema.
func hasSchema(c *chart.Chart) bool {
	if c.Schema != nil {
		return true
	}
	for _, d := range c.Dependencies() {
		if hasSchema(d) {
			return true
		}
	}
	return false
}
