# Every target works on a fresh machine: the Go toolchain named in go.mod is
# fetched from the module proxy when the installed one is older.
export GOTOOLCHAIN := go1.27.3
export GOFLAGS := -buildvcs=false

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/argocd-image-resolver/argocd-image-resolver/plugin.version=$(VERSION)
BUILD_CMD := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/argocd-image-resolver .

# Heavy third-party binaries used by the end-to-end tests, built once and
# kept per version under .cache/ (gitignored).
CACHE := $(CURDIR)/.cache
ARGOCD_VERSION := v3.6.1
HELM_VERSION := v3.22.0
KUBE_VERSION := v1.37.2
ARGOCD_BIN := $(CACHE)/argocd-$(ARGOCD_VERSION)/argocd
HELM_BIN := $(CACHE)/helm-$(HELM_VERSION)/helm
KUBE_ASSETS := $(CACHE)/kube-$(KUBE_VERSION)

.PHONY: build demo test unit lint e2e-tools image kube-assets

build:
	$(BUILD_CMD)

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

# unit runs the fast tests only (no third-party binaries needed).
unit:
	go test -count=1 ./...

$(ARGOCD_BIN):
	mkdir -p $(dir $@)
	go build -o $@ github.com/argoproj/argo-cd/v3/cmd

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

e2e-tools: $(ARGOCD_BIN) $(HELM_BIN) kube-assets

# test runs every test, end-to-end ones included; the e2e binaries are
# required here, so a missing one fails instead of skipping.
# The e2e tests run the binary that `build` made under argocd-cmp-server.
test: lint e2e-tools build
	E2E_REQUIRED=1 ARGOCD_BIN=$(ARGOCD_BIN) HELM_BIN=$(HELM_BIN) KUBEBUILDER_ASSETS=$(KUBE_ASSETS) \
		IMAGE_RESOLVER_BIN=$(CURDIR)/bin/argocd-image-resolver \
		go test -count=1 -timeout 30m ./...
