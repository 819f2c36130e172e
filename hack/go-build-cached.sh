#!/usr/bin/env bash
# go build -o OUT, but the linked program comes from the Go build cache when
# it is there:
#
#   hack/go-build-cached.sh OUT [go build flags] PACKAGE[@VERSION]
#
# go build caches compiled packages but links every time, and linking a
# Kubernetes component takes 10-25 s on 2 cores: a fresh clone's tools cost
# minutes even with a warm cache. go run (Go 1.24 and later) keeps the
# programs it links in the build cache, keyed on every input (sources,
# flags, environment, toolchain), so a go run whose -exec program is this
# script, which copies the program to OUT instead of running it, is a
# go build that links only what changed.
set -euo pipefail

if [ -n "${GO_BUILD_CACHED_OUT:-}" ]; then
  # Called by go run as its -exec program: $1 is the linked program.
  cp "$1" "${GO_BUILD_CACHED_OUT}.tmp"
  mv "${GO_BUILD_CACHED_OUT}.tmp" "${GO_BUILD_CACHED_OUT}"
  exit 0
fi

[ "$#" -ge 2 ] || { echo "usage: $0 OUT [go build flags] PACKAGE" >&2; exit 2; }
out="$1"
shift
mkdir -p "$(dirname "${out}")"
GO_BUILD_CACHED_OUT="$(cd "$(dirname "${out}")" && pwd)/$(basename "${out}")" \
  go run -exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")" "$@"
