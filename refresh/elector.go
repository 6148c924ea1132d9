package refresh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"
)

// Elector decides which replica runs the refresher. With a shared tracker
// every replica records renders, but only the leader checks and triggers,
// so that one change makes one hard refresh.
type Elector interface {
	// Run takes part in the election until ctx ends. Each time this
	// replica becomes the leader it calls lead with a context that ends
	// when the leadership does, and waits for lead to return before it
	// competes again.
	Run(ctx context.Context, lead func(ctx context.Context)) error
	// Name is the election's kind, for logs.
	Name() string
}

// Lease timings, client-go's usual ones: a leader renews every RetryPeriod,
// gives up when it could not renew for RenewDeadline, and the others take
// over once LeaseDuration passed without a renewal.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// LeaseName names the Lease object (and the Redis key's suffix) the
// replicas compete for.
const LeaseName = "argocd-image-resolver-refresher"

// LeaseTimings are the durations of a lease election.
type LeaseTimings struct {
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// DefaultLeaseTimings are client-go's usual timings (15 s, 10 s, 2 s).
func DefaultLeaseTimings() LeaseTimings {
	return LeaseTimings{LeaseDuration: DefaultLeaseDuration, RenewDeadline: DefaultRenewDeadline, RetryPeriod: DefaultRetryPeriod}
}

// AlwaysLeader is the election of a replica alone: without a shared
// tracker each process refreshes what it rendered.
type AlwaysLeader struct{}

// Run implements Elector.
func (AlwaysLeader) Run(ctx context.Context, lead func(ctx context.Context)) error {
	lead(ctx)
	return nil
}

// Name implements Elector.
func (AlwaysLeader) Name() string { return "none" }

// Identity names this replica in an election: the pod name (HOSTNAME in a
// pod) and a random suffix, so that a restarted pod with the same name is
// a new candidate.
func Identity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return host + "_" + hex.EncodeToString(b)
}
