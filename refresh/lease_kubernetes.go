package refresh

import (
	"context"
	"fmt"
	"log/slog"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// KubernetesLease elects the refresher's leader on a coordination.k8s.io
// Lease with client-go's leaderelection. The service account needs get,
// create and update on leases in the namespace.
type KubernetesLease struct {
	lock    *resourcelock.LeaseLock
	timings LeaseTimings
	log     *slog.Logger
}

// NewKubernetesLease returns the election on Lease LeaseName in namespace,
// as identity, through its own client built from cfg (so that renewals
// never wait behind hard-refresh requests in the client's rate limiter).
func NewKubernetesLease(cfg *rest.Config, namespace, identity string, timings LeaseTimings, log *slog.Logger) (*KubernetesLease, error) {
	cfg = rest.CopyConfig(cfg)
	// A renewal every RetryPeriod and a few retries: client-go's default
	// limits, set here so that they do not follow the refresher's.
	cfg.QPS, cfg.Burst = 5, 10
	client, err := coordinationv1.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for the refresher lease: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &KubernetesLease{
		lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: LeaseName, Namespace: namespace},
			Client:     client,
			LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
		},
		timings: timings,
		log:     log,
	}, nil
}

// Name implements Elector.
func (k *KubernetesLease) Name() string { return "kubernetes-lease" }

// Run implements Elector.
func (k *KubernetesLease) Run(ctx context.Context, lead func(ctx context.Context)) error {
	where := k.lock.LeaseMeta.Namespace + "/" + k.lock.LeaseMeta.Name
	for ctx.Err() == nil {
		// client-go starts OnStartedLeading in a goroutine and does not wait
		// for it; lead runs here instead, so that it has returned before
		// this replica competes again.
		acquired := make(chan context.Context, 1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          k.lock,
			LeaseDuration: k.timings.LeaseDuration,
			RenewDeadline: k.timings.RenewDeadline,
			RetryPeriod:   k.timings.RetryPeriod,
			// On shutdown the lease is handed over at once instead of after
			// LeaseDuration. A request lead has in flight may then finish
			// after the release; the refresh annotation it sets keeps the
			// next leader from repeating it.
			ReleaseOnCancel: true,
			Name:            LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) { acquired <- lctx },
				OnStoppedLeading: func() {},
				OnNewLeader: func(id string) {
					if id != k.lock.Identity() {
						k.log.Info("refresher led by another replica", "lease", where, "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("refresher lease %s: %w", where, err)
		}
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			le.Run(ctx)
		}()
		select {
		case lctx := <-acquired:
			k.log.Info("refresher leadership acquired", "lease", where, "identity", k.lock.Identity())
			lead(lctx)
			<-ran
			k.log.Info("refresher leadership ended", "lease", where, "identity", k.lock.Identity())
		case <-ran:
			// ctx ended before this replica led, or it lost the lease at
			// once: nothing ran.
		}
	}
	return nil
}
