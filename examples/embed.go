// Package examples holds the bundled example chart and Application
// manifests. The chart is embedded so that the demo command and the
// end-to-end tests render exactly what a user finds in this folder.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ChartDir is the folder of the example chart inside FS.
const ChartDir = "web"

// FS holds the example chart (hidden and underscore files included).
//
//go:embed all:web
var FS embed.FS

// WriteChart writes the example chart into dir (created when missing) and
// returns the chart's path, dir/web.
func WriteChart(dir string) (string, error) {
	err := fs.WalkDir(FS, ChartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("write example chart into %s: %w", dir, err)
	}
	return filepath.Join(dir, ChartDir), nil
}
