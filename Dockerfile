# Gatehouse's container image: a static binary on distroless (no shell, no package
# manager), running as the non-root UID 65532. scripts/image builds the same image without
# a container daemon (the release script uses it); a test checks that the two agree on
# the user, entrypoint and command.
#
#   docker build --build-arg VERSION=v1.2.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=2026-12-07T22:00:00Z -t ghcr.io/gatehouse-dev/gatehouse:v1.2.0 .
#   docker run -v ./gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro -p 8080:8080 \
#     ghcr.io/gatehouse-dev/gatehouse:v1.2.0
#
# docker buildx build --platform linux/amd64,linux/arm64 cross-compiles on the build
# machine's own architecture.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=
ARG CREATED=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git, so the build facts come from the arguments
# (internal/buildinfo); an empty one reads "unknown".
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w \
        -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.version=${VERSION} \
        -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.revision=${REVISION} \
        -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.vcsTime=${CREATED}" \
      -o /out/gatehouse ./cmd/gatehouse \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian13:nonroot
ARG VERSION=dev
ARG REVISION=
ARG CREATED=
LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.source="https://github.com/gatehouse-dev/gatehouse" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/gatehouse /gatehouse
# A writable home for an SQLite store (store: sqlite:///var/lib/gatehouse/gatehouse.db);
# mount a volume here to keep it.
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /var/lib/gatehouse
WORKDIR /var/lib/gatehouse
EXPOSE 8080 9090
USER 65532:65532
ENTRYPOINT ["/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
