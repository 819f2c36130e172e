# One image with all four programs: manager, producer, analytics, dashboard.
# analytics links DuckDB through cgo, so the build needs a C toolchain and the
# runtime needs glibc and libstdc++ (distroless/cc has both).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/manager /out/producer /out/analytics /out/dashboard /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/manager"]
