# s2lite container image: a static binary on distroless, run as the
# unprivileged "nonroot" user (uid/gid 65532). The binary writes nothing to
# local disk unless --local-root is given, so the container works with a
# read-only root filesystem.
#
#   docker build -t s2lite .
#   docker run --rm -p 8080:8080 s2lite                      # in memory
#   docker run --rm -p 8080:8080 -e AWS_REGION=... -e AWS_ACCESS_KEY_ID=... \
#     -e AWS_SECRET_ACCESS_KEY=... s2lite serve --port 8080 --bucket BUCKET
#
# The Go version follows go.mod. The build stage runs on the builder's own
# platform and cross-compiles for the target (docker buildx --platform ...).

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so that a source change reuses this layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o /out/s2lite ./cmd/s2lite

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/s2lite /s2lite
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/s2lite"]
CMD ["serve", "--port", "8080"]
