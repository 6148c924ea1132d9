// Package loop runs the whole loop with Argo CD's own controller: a push to
// a registry ends as the new image in an Application's status, with nothing
// committed to git and the Application's spec untouched.
//
// Every component is the real program, on loopback:
//
//   - kube-apiserver and etcd, started by controller-runtime's envtest from
//     KUBEBUILDER_ASSETS (`make kube-assets`), with Argo CD's Application
//     and AppProject CRDs from the argo-cd v3.6.1 module's manifests/crds.
//     It is also the destination cluster: Deployments, Services and Pods
//     are stored there; nothing runs them.
//   - Argo CD's settings objects in the namespace argocd, applied from the
//     same module's manifests/base/config: argocd-cm, argocd-secret and
//     argocd-rbac-cm as shipped, and the AppProject default that
//     argocd-server creates at start-up (server.initializeDefaultProject:
//     any source repository, any destination, every cluster resource).
//   - redis-server (Debian), shared by the controller, the repo-server and
//     our sidecar as Argo CD's own Redis is in the install.
//   - argocd-repo-server and argocd-application-controller from the
//     multi-call argocd binary of ARGOCD_BIN (`make e2e-tools`), chosen by
//     ARGOCD_BINARY_NAME.
//   - our `serve`, in the test process, with the Kubernetes refresh
//     backend pointed at the same kube-apiserver; its render workers are
//     the test binary (TestMain).
//   - a git repository on disk (file://) holding the example chart, and
//     the loopback registry of test/registrytest.
//
// What each component needs (plane_test.go passes exactly this):
//
// argocd-application-controller: --kubeconfig and --namespace argocd (the
// kubectl flags: where Applications, AppProjects and settings live),
// --repo-server <addr> with --repo-server-plaintext (the repo-server runs
// with --disable-tls), --redis <addr>, --metrics-port (its default 8082
// may be taken), --logformat text. The destination
// https://kubernetes.default.svc is the "in-cluster" cluster, which the
// controller reaches through rest.InClusterConfig, unusable outside a
// Pod; Argo CD's own local development sets ARGOCD_FAKE_IN_CLUSTER=true,
// which makes it read $KUBECONFIG for that cluster instead
// (pkg/apis/application/v1alpha1/types.go, Cluster.rawRestConfig). So
// the controller runs with ARGOCD_FAKE_IN_CLUSTER=true and KUBECONFIG set
// to the envtest kubeconfig, and no cluster Secret is needed. HOME and
// TMPDIR are private (kubectl's discovery cache). No commit-server is
// needed (the hydrator is off).
//
// argocd-repo-server: as in test/e2e (--disable-tls, --client-ca-path "",
// --redis, --address 127.0.0.1, --port, --metrics-port;
// ARGOCD_GPG_ENABLED=false, ARGOCD_PLUGINSOCKFILEPATH=<serve's socket
// dir>, a git-verify-wrapper.sh stub and git on PATH).
//
// serve: --socket-dir (short, shared with the repo-server),
// --refresh-backend kubernetes --kubeconfig <the envtest kubeconfig>
// --control-plane-namespace argocd --refresh-namespaces argocd,
// --redis <Argo CD's Redis> (as the install does: the tracker lives in
// Redis and the refresher leads through a Lease in argocd),
// --webhook-secret-file for `notify`, and a short --refresh-interval with
// --cache-ttl below it (as the defaults are, 2m and 1m) so that the
// interval path sees a push within one interval.
//
// The Application is examples/applications/web.yaml (plugin
// image-resolver, automated sync with prune and selfHeal, CreateNamespace)
// pointed at the local repository and the loopback registry. Argo CD
// lists in status.summary.images the images of the Application's live
// Pods only (controller/cache/info.go, populatePodInfo), and envtest runs
// no kube-controller-manager to make Pods from the Deployment; the
// repository's copy of the example chart therefore adds one template, a
// bare Pod with the same image expression as the Deployment, which the
// controller syncs (a Pod's container image may be updated in place) and
// reports. The tests check both that Pod (status.summary.images) and the
// synced Deployment.
//
// selfHeal matters: with the git revision unchanged, Argo CD's auto-sync
// applies a re-rendered manifest only as a self-heal
// (controller/appcontroller.go, autoSync). Argo CD 3.x backs self-heals of
// one revision off (--self-heal-backoff-timeout-seconds 2, factor 3, cap
// 300 s, counted from the previous sync's end, and the count is not reset
// while the revision and the source stay the same); the tests run with
// those defaults, the benchmark turns the backoff off to measure the loop
// itself (see BENCHMARKS.md).
//
// Without ARGOCD_BIN, KUBEBUILDER_ASSETS, redis-server or git the tests
// skip, unless E2E_REQUIRED=1 (as in `make test`), where they fail.
package loop
