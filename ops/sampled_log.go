package ops

import (
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// sampledLog runs a log call at most once per interval and counts the
// calls it held back in between, so that a flood of one kind of event
// costs one log line per interval. Each owner has its own.
type sampledLog struct {
	every    rate.Sometimes
	heldBack atomic.Int64
}

func newSampledLog(interval time.Duration) *sampledLog {
	return &sampledLog{every: rate.Sometimes{Interval: interval}}
}

// do runs log (with the number of calls held back since the last one) when
// the interval has passed since it last ran, and otherwise counts the call.
func (s *sampledLog) do(log func(heldBack int64)) {
	ran := false
	s.every.Do(func() {
		ran = true
		log(s.heldBack.Swap(0))
	})
	if !ran {
		s.heldBack.Add(1)
	}
}
