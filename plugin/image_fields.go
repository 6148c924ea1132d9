package plugin

import (
	"fmt"
	"os"

	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// ImageFieldsError is an unreadable or invalid serve --image-fields file.
type ImageFieldsError struct {
	Path string
	Err  error
}

func (e *ImageFieldsError) Error() string {
	return fmt.Sprintf("--image-fields %s: %v", e.Path, e.Err)
}

func (e *ImageFieldsError) Unwrap() error { return e.Err }

// loadImageFields reads the extra image fields of serve --image-fields;
// an empty path declares none.
func loadImageFields(path string) ([]rewrite.FieldSpec, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ImageFieldsError{Path: path, Err: err}
	}
	fields, err := rewrite.ParseFields(data)
	if err != nil {
		return nil, &ImageFieldsError{Path: path, Err: err}
	}
	return fields, nil
}
