package resolve

import (
	"fmt"
	"time"
)

// Bounds of the gates' work in one resolution.
const (
	// maxGateChecks bounds how many candidates gates may refuse before
	// Select gives up: each refusal costs registry calls (a HEAD, a
	// signature lookup).
	maxGateChecks = 64
	// maxHeldBack bounds Result.HeldBack.
	maxHeldBack = 10
)

// gate accepts or refuses a candidate the filters and the strategy chose.
// Gates run best candidate first, after the platform check, so that they
// cost registry calls only for likely winners.
type gate interface {
	// name is the gate's Held.Gate: GateMinAge or GateVerify.
	name() string
	// label names the gate in Result.Gates: "min-age 24h".
	label() string
	// check refuses a candidate with a Held, or accepts it with nil. An
	// error means the gate could not judge it (a failing store or
	// registry); Select holds such a candidate back too.
	check(tag, digest string) (*Held, error)
}

// formatAge writes a duration as people set min-age: "7d", "24h", "90m".
func formatAge(d time.Duration) string {
	day := 24 * time.Hour
	switch {
	case d >= 2*day && d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// formatAgo writes how long ago something happened, to the largest unit
// ("2h", "3d", "40s").
func formatAgo(d time.Duration) string {
	day := 24 * time.Hour
	switch {
	case d >= 2*day:
		return fmt.Sprintf("%dd", d/day)
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 0:
		return "0s"
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
