package cmp

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// Option configures a Server.
type Option func(*Server) error

// WithAnnotate writes every alias's provenance into annotations of the
// rendered workloads (serve --annotate).
func WithAnnotate(on bool) Option {
	return func(s *Server) error { s.pipeline.Annotate = on; return nil }
}

// WithSocketDir sets the socket directory (default $ARGOCD_PLUGINSOCKFILEPATH
// or DefaultSocketDir).
func WithSocketDir(dir string) Option {
	return func(s *Server) error { s.socketDir = dir; return nil }
}

// WithWorkDir sets where repository tarballs are received and extracted
// (default os.TempDir()); each render uses its own subdirectory.
func WithWorkDir(dir string) Option {
	return func(s *Server) error { s.workDir = dir; return nil }
}

// WithMaxTarSize caps the compressed repository stream, in bytes.
func WithMaxTarSize(n int64) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("max tar size must be positive, got %d", n)
		}
		s.maxTarSize = n
		return nil
	}
}

// WithMaxExtractedBytes caps the total size of extracted files.
func WithMaxExtractedBytes(n int64) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("max extracted bytes must be positive, got %d", n)
		}
		s.maxExtracted = n
		return nil
	}
}

// WithMaxFiles caps the number of entries in a repository tarball.
func WithMaxFiles(n int) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("max files must be positive, got %d", n)
		}
		s.maxFiles = n
		return nil
	}
}

// WithParallelism bounds concurrent renders (default: 4).
func WithParallelism(n int) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("parallelism must be positive, got %d", n)
		}
		s.slots = newSlots(n)
		return nil
	}
}

// WithGracePeriod bounds how long shutdown waits for in-flight renders.
func WithGracePeriod(d time.Duration) Option {
	return func(s *Server) error { s.grace = d; return nil }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) error { s.logger = l; return nil }
}

// WithRecorder is told about every successful render.
func WithRecorder(r Recorder) Option {
	return func(s *Server) error { s.recorder = r; return nil }
}

// WithRenderObserver is told how long every GenerateManifest took and
// whether it failed (for the render duration histogram).
func WithRenderObserver(f func(time.Duration, error)) Option {
	return func(s *Server) error { s.observe = f; return nil }
}

// WithImageFields declares image fields of custom resources (parsed with
// rewrite.ParseFields) that the rewrite option writes into (serve
// --image-fields).
func WithImageFields(fields []rewrite.FieldSpec) Option {
	return func(s *Server) error { s.pipeline.ImageFields = fields; return nil }
}

// WithRenderer replaces the Helm renderer.
func WithRenderer(r Renderer) Option {
	return func(s *Server) error { s.pipeline.Renderer = r; return nil }
}

// WithKustomizer runs the Kustomize builds with k instead of in the
// server's process (a render worker pool, like WithRenderer's).
func WithKustomizer(k Kustomizer) Option {
	return func(s *Server) error { s.pipeline.Kustomizer = k; return nil }
}

// WithRules sets where chart dependencies may be fetched from, per
// project (default: every host but link-local ones).
func WithRules(r Rules) Option {
	return func(s *Server) error { s.pipeline.Rules = r; return nil }
}

// WithMaxDependencyBytes caps the chart dependency downloads of one render
// (default DefaultMaxDependencyBytes).
func WithMaxDependencyBytes(n int64) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("max dependency bytes must be positive, got %d", n)
		}
		s.pipeline.MaxDependencyBytes = n
		return nil
	}
}

// WithStrictSemver sets the default of the strict-semver image option
// (true unless the operator turns it off): only full MAJOR.MINOR.PATCH tags
// are semver candidates.
func WithStrictSemver(strict bool) Option {
	return func(s *Server) error {
		s.pipeline.SpecOptions = append(s.pipeline.SpecOptions, resolve.StrictSemverByDefault(strict))
		return nil
	}
}

// WithPluginConfig sets the plugin spec (default: the embedded plugin.yaml).
func WithPluginConfig(c *PluginConfig) Option {
	return func(s *Server) error { s.plugin = c; return nil }
}

// WithMaxMemoryRepo sets the in-memory budget of one repository, in bytes
// (default DefaultMaxMemoryRepo): a repository whose tarball or contents
// pass it, or that holds symbolic links, is extracted to --work-dir
// instead. Zero puts every repository on disk.
func WithMaxMemoryRepo(n int64) Option {
	return func(s *Server) error {
		if n < 0 {
			return fmt.Errorf("max memory repo must not be negative, got %d", n)
		}
		s.maxMemoryRepo = n
		return nil
	}
}
