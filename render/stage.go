package render

// Stages of a render, as StageError names them.
const (
	StageKubeVersion = "reading the Kubernetes version (KUBE_VERSION)"
	StageValues      = "reading values"
	StageChart       = "loading the chart"
	StageMerge       = "merging values"
	StageInject      = "writing the images into the values"
	StageTemplate    = "rendering the chart"
	StageRewrite     = "writing the images into the rendered manifests"
	StageVerify      = "checking the rendered images"
)

// StageError names the step of a render an error happened in, so that a
// message starts with what was being done ("reading values: value file
// ...") rather than with whatever step the caller was in.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

func atStage(stage string, err error) error {
	if err == nil {
		return nil
	}
	return &StageError{Stage: stage, Err: err}
}
