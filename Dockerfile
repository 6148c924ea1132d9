# syntax=docker/dockerfile:1
#
# argocd-image-resolver: a static binary on distroless, run as uid 999 (the
# argocd user, as Argo CD requires of repo-server sidecars).
#
#   make image                      # the host's platform, or:
#   docker build --build-arg VERSION=v1.2.3 -t argocd-image-resolver .
#
# Release images hold both platforms of the Makefile's PLATFORMS; the build
# stage runs on the builder's own platform and cross-compiles for each
# TARGETOS/TARGETARCH that BuildKit sets:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v0.1.0 -t ghcr.io/argocd-image-resolver/argocd-image-resolver:v0.1.0 --push .
#
# The go build line is the Makefile's BUILD_CMD (a test keeps them equal).

FROM --platform=$BUILDPLATFORM golang:1.27 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/argocd-image-resolver/argocd-image-resolver/plugin.version=${VERSION}" -o /out/argocd-image-resolver .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/argocd-image-resolver /argocd-image-resolver
USER 999
ENTRYPOINT ["/argocd-image-resolver"]
CMD ["serve"]
