// Package e2e proves the plugin against real Argo CD components: an
// argocd-repo-server (and argocd-cmp-server) built from the argo-cd v3 Go
// module, a Redis from the system, a local git repository served as
// file://, and a registry on loopback. Nothing is mocked.
//
// The tests need ARGOCD_BIN (the multi-call argocd binary; `make test` builds
// it). Without it they skip, unless E2E_REQUIRED=1 makes a missing binary a
// failure. redis-server and git must be on PATH.
package e2e
