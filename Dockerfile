# One image with all four programs: manager, producer, analytics, dashboard.
# It holds exactly what they need at run time, the same files that
# hack/image puts in the image it builds without a container engine
# (test/image's TestDockerfileAgrees checks that the two lists agree):
# the programs, the C and C++ runtime that analytics links for DuckDB
# (cgo), the CA certificates, and a non-root user. amd64, Debian bookworm.
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

FROM scratch
COPY --from=build /out/manager /out/producer /out/analytics /out/dashboard /usr/local/bin/
COPY --from=build /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1 /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/
COPY --from=build /lib64/ld-linux-x86-64.so.2 /lib64/
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY test/image/rootfs/etc/passwd test/image/rootfs/etc/group /etc/
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/manager"]
