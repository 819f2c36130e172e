#!/usr/bin/env bash
# Builds the envtest control plane offline: kube-apiserver and kubectl from the
# k8s.io/kubernetes Go module, etcd from Debian's etcd-server. setup-envtest
# downloads prebuilt binaries from a bucket, which these machines cannot reach.
#
# Prints the directory to use as KUBEBUILDER_ASSETS. Reuses it when complete.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/bin/k8s/${K8S_VERSION}"

log() { echo "envtest: $*" >&2; }

ensure_etcd() {
  if command -v etcd >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing etcd-server from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >&2; }
  fi
  command -v etcd >/dev/null 2>&1 || { log "etcd not found: install Debian's etcd-server"; exit 1; }
}

build_k8s() {
  local work="${ROOT}/bin/k8s/.build-${K8S_VERSION}"
  mkdir -p "${work}"
  cd "${work}"
  # k8s.io/kubernetes replaces its staging modules with local paths, so
  # `go install k8s.io/kubernetes/cmd/...@v` is refused; a wrapper module that
  # pins each staging module to the matching v0.x release works.
  local staging="v0.${K8S_VERSION#1.}"
  if [ ! -f go.sum ]; then
    cat > go.mod <<EOF
module streamdash.local/k8s-tools

go 1.26

require k8s.io/kubernetes v${K8S_VERSION}
EOF
    cat > tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
    GOFLAGS=-mod=mod go mod download k8s.io/kubernetes@"v${K8S_VERSION}" >&2
    local modfile
    modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v${K8S_VERSION}.mod"
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "${modfile}" | awk '{print $1}' | sort -u |
      while read -r m; do echo "replace ${m} => ${m} ${staging}"; done >> go.mod
    GOFLAGS=-mod=mod go mod tidy >&2
  fi
  log "building kube-apiserver and kubectl ${K8S_VERSION} (minutes when the Go build cache is cold)"
  go build -o "${DEST}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
  go build -o "${DEST}/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
}

ensure_etcd
if [ ! -x "${DEST}/kube-apiserver" ] || [ ! -x "${DEST}/kubectl" ]; then
  mkdir -p "${DEST}"
  ( build_k8s )
fi
ln -sf "$(command -v etcd)" "${DEST}/etcd"
echo "${DEST}"
