# Every target works on a fresh machine: the Go toolchain named in go.mod is
# fetched from the module proxy when the installed one is older.
export GOTOOLCHAIN := go1.27.3
export GOFLAGS := -buildvcs=false

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/argocd-image-resolver/argocd-image-resolver/plugin.version=$(VERSION)
GO_BUILD := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"
BUILD_CMD := $(GO_BUILD) -o bin/argocd-image-resolver .

# Platforms of the release binaries and of the container image (the
# Dockerfile's header names the same list; manifests/image_test.go checks).
PLATFORMS := linux/amd64 linux/arm64
DIST := $(CURDIR)/dist

# Heavy third-party binaries used by the end-to-end tests, built once and
# kept per version under .cache/ (gitignored).
CACHE := $(CURDIR)/.cache
ARGOCD_VERSION := v3.6.1
ARGOCD_V2_VERSION := v2.14.21
HELM_VERSION := v3.22.0
KUBE_VERSION := v1.37.2
ARGOCD_BIN := $(CACHE)/argocd-$(ARGOCD_VERSION)/argocd
ARGOCD_V2_BIN := $(CACHE)/argocd-$(ARGOCD_V2_VERSION)/argocd
HELM_BIN := $(CACHE)/helm-$(HELM_VERSION)/helm
KUBE_ASSETS := $(CACHE)/kube-$(KUBE_VERSION)

.PHONY: build release demo test unit lint e2e-tools image kube-assets fuzz race kustomize-golden

build:
	$(BUILD_CMD)

# release cross-compiles the static binary for every platform of PLATFORMS
# into $(DIST) as argocd-image-resolver-<version>-<os>-<arch>, with their
# sha256 checksums in $(DIST)/SHA256SUMS (`sha256sum -c SHA256SUMS` checks
# them). Run it on the release tag, or name the version: make release VERSION=v0.1.0
release:
	mkdir -p $(DIST)
	rm -f $(DIST)/argocd-image-resolver-* $(DIST)/SHA256SUMS
	@set -ex; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		GOOS=$$os GOARCH=$$arch $(GO_BUILD) -o $(DIST)/argocd-image-resolver-$(VERSION)-$$os-$$arch .; \
	done
	cd $(DIST) && sha256sum argocd-image-resolver-$(VERSION)-* > SHA256SUMS

# image builds the container image where a Docker engine runs. The
# Dockerfile repeats BUILD_CMD; manifests/image_test.go keeps them equal.
IMAGE ?= ghcr.io/argocd-image-resolver/argocd-image-resolver:$(VERSION)
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

demo:
	go run . demo

lint:
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# fuzz runs every fuzz target for FUZZTIME, one after another. The parsers
# live in small packages (imagespec, webhookpayload, registriesconf, untar,
# valuepath, egress): the fuzzer instruments every package the test links.
# sigverify's simple-signing parser is fuzzed where it lives: its test links
# sigstore-go and notation-go, so it runs fewer executions per second.
# FUZZMINIMIZE bounds the minimisation of each new corpus entry (Go's
# default, 60s each, is what made the fuzzer look stuck after ~10 execs).
# BENCHMARKS.md has the figures. A crash leaves its input under
# <package>/testdata/fuzz/: commit it as a regression seed with the fix.
FUZZTIME ?= 60s
FUZZMINIMIZE ?= 100x
FUZZ_TARGETS ?= imagespec:FuzzParseSpecs webhookpayload:FuzzParseWebhook \
	registriesconf:FuzzParseRegistriesConfig untar:FuzzExtract \
	valuepath:FuzzParsePath egress:FuzzParsePattern \
	sigverify:FuzzParseSimpleSigning rewrite:FuzzRewrite \
	kustomization:FuzzParseImage kustomization:FuzzScreen migrate:FuzzMigrate
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "== ./$$pkg $$fn for $(FUZZTIME)"; \
		go test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) ./$$pkg; \
	done

# kustomize-golden writes cmp/testdata/kustomize-golden/<overlay>.yaml with
# the kustomize program built on the Kustomize module the plugin links
# (kustomize/v5 v5.8.1 is api v0.21.1), for the golden test in cmp.
KUSTOMIZE_CLI_VERSION ?= v5.8.1
KUSTOMIZE_API_VERSION ?= v0.21.1
kustomize-golden:
	@grep -q 'sigs.k8s.io/kustomize/api $(KUSTOMIZE_API_VERSION)' go.mod || { echo "go.mod does not require kustomize/api $(KUSTOMIZE_API_VERSION): pick the kustomize program built on the one it requires"; exit 1; }
	@set -e; for o in cmp/testdata/repo/kustomize/overlays/*/; do \
		n=$$(basename $$o); \
		go run sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_CLI_VERSION) build $$o > cmp/testdata/kustomize-golden/$$n.yaml; \
	done

# unit runs the fast tests only (no third-party binaries needed).
unit:
	go test -count=1 ./...

$(ARGOCD_BIN):
	mkdir -p $(dir $@)
	go build -o $@ github.com/argoproj/argo-cd/v3/cmd

# Argo CD v2.14 cannot be built in the main module (see hack/argocd-v2/go.mod);
# its tools module pins the version, which must match ARGOCD_V2_VERSION (the
# binary is keyed by version, like the others, and built only when missing).
$(ARGOCD_V2_BIN):
	@grep -q 'argo-cd/v2 $(ARGOCD_V2_VERSION)' hack/argocd-v2/go.mod || { echo "hack/argocd-v2/go.mod does not require argo-cd $(ARGOCD_V2_VERSION)"; exit 1; }
	mkdir -p $(dir $@)
	cd hack/argocd-v2 && go build -o $@ github.com/argoproj/argo-cd/v2/cmd

$(HELM_BIN):
	mkdir -p $(dir $@)
	go build -o $@ helm.sh/helm/v3/cmd/helm

# envtest assets (KUBEBUILDER_ASSETS): kube-apiserver built from
# k8s.io/kubernetes in the hack/kube tools module, etcd from Debian's
# etcd-server (installed by .ci/run).
$(KUBE_ASSETS)/kube-apiserver:
	mkdir -p $(dir $@)
	cd hack/kube && go build -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(KUBE_ASSETS)/etcd:
	mkdir -p $(dir $@)
	@command -v etcd >/dev/null || { echo "etcd not found: apt-get install etcd-server"; exit 1; }
	ln -sf "$$(command -v etcd)" $@

kube-assets: $(KUBE_ASSETS)/kube-apiserver $(KUBE_ASSETS)/etcd

e2e-tools: $(ARGOCD_BIN) $(ARGOCD_V2_BIN) $(HELM_BIN) kube-assets

# test runs every test, end-to-end ones included; the e2e binaries are
# required here, so a missing one fails instead of skipping.
# The e2e tests run the binary that `build` made under argocd-cmp-server.
test: lint e2e-tools build
	E2E_REQUIRED=1 ARGOCD_BIN=$(ARGOCD_BIN) ARGOCD_V2_BIN=$(ARGOCD_V2_BIN) HELM_BIN=$(HELM_BIN) KUBEBUILDER_ASSETS=$(KUBE_ASSETS) \
		IMAGE_RESOLVER_BIN=$(CURDIR)/bin/argocd-image-resolver \
		go test -count=1 -timeout 30m ./...
	$(MAKE) race RACE_PACKAGES="$(RACE_FAST)"

# race runs tests under the race detector (it needs cgo, so gcc; .ci/run
# installs it). make test runs the packages whose state is shared between
# goroutines most (the cache, the refresher, the HTTP side); `make race`
# alone runs every package, which takes long on a cold build cache.
RACE_FAST := ./resolve/ ./refresh/ ./ops/ ./store/ ./worker/
RACE_PACKAGES ?= ./...
race:
	CGO_ENABLED=1 go test -race -count=1 -timeout 30m $(RACE_PACKAGES)
