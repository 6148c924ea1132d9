// Package e2e proves the plugin against real Argo CD components: an
// argocd-repo-server (and argocd-cmp-server) of each supported release,
// built from the argo-cd v3 Go module and, in hack/argocd-v2, from the v2
// module; a Redis from the system, a local git repository served as
// file://, and a registry on loopback. Nothing is mocked.
//
// The tests need ARGOCD_BIN (the multi-call argocd binary of v3) and
// ARGOCD_V2_BIN (that of v2.14); `make test` builds both. forEachArgoCD
// runs a test once per release; a release without its binary is skipped,
// unless E2E_REQUIRED=1 makes a missing binary a failure. HELM_BIN puts helm
// on the repo-server's PATH for native Helm sources. redis-server and git
// must be on PATH.
package e2e
