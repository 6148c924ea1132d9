package imagespec

import (
	"errors"
	"fmt"
)

// ErrUnknownStrategy is wrapped by the error of an update-strategy the
// parser does not know.
var ErrUnknownStrategy = errors.New("unknown strategy")

// OptionError is one option (or the constraint) of one alias that cannot
// be used, and why.
type OptionError struct {
	Alias  string
	Image  string
	Option string // an Opt* name, or "constraint"
	Value  string
	Err    error
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("alias %q (%s): %s %q: %v", e.Alias, e.Image, e.Option, e.Value, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }
