#!/usr/bin/env bash
# Builds and installs what the local Kubernetes node (test/node) runs, offline
# but for the Go module proxy and Debian:
#   bin/k8s/<k8s>/        kubelet, kube-controller-manager, kube-scheduler, kube-proxy
#                         (hack/k8s-build.sh; kube-apiserver and kubectl come from hack/envtest.sh)
#   bin/containerd/<v>/   containerd, ctr, containerd-shim-runc-v2 (Go module)
#   bin/coredns/<v>/      coredns with only the plugins cluster DNS needs (Go module)
#   bin/node/pause        the pods' sandbox process (hack/pause)
#   Debian                runc, the CNI plugins, iptables, conntrack (when root and missing)
# Everything present is reused; a cold build takes about 20 minutes on 2 cores.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-2.4.2}"
COREDNS_VERSION="${COREDNS_VERSION:-1.15.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "node-tools: $*" >&2; }

# Debian package -> a file it installs.
declare -A DEBIAN=(
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [conntrack]=/usr/sbin/conntrack
)

ensure_debian() {
  local missing=()
  for p in "${!DEBIAN[@]}"; do [ -e "${DEBIAN[$p]}" ] || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${missing[*]}: install them from Debian (apt-get install ${missing[*]})"; exit 1
  fi
  log "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
}

# wrapper DIR MODULE: an empty module in DIR that requires MODULE, for
# building its commands with `go build <package>`.
wrapper() {
  local dir=$1 module=$2 imports=$3
  mkdir -p "${dir}"
  cd "${dir}"
  if [ ! -f go.sum ]; then
    printf 'module streamdash.local/%s\n\ngo 1.26\n' "$(basename "${dir}")" > go.mod
    printf '%s\n' "${imports}" > tools.go
    GOFLAGS=-mod=mod go get "${module}" >&2
    GOFLAGS=-mod=mod go mod tidy >&2
  fi
}

build_containerd() {
  local dest="${ROOT}/bin/containerd/${CONTAINERD_VERSION}" cmds=(containerd ctr containerd-shim-runc-v2)
  local c missing=0
  for c in "${cmds[@]}"; do [ -x "${dest}/${c}" ] || missing=1; done
  [ "${missing}" = 0 ] && return
  wrapper "${ROOT}/bin/containerd/.build-${CONTAINERD_VERSION}" "github.com/containerd/containerd/v2@v${CONTAINERD_VERSION}" '//go:build tools

package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)'
  mkdir -p "${dest}"
  for c in "${cmds[@]}"; do
    log "building ${c} ${CONTAINERD_VERSION}"
    local start=$(date +%s)
    # The btrfs and devmapper snapshotters need C headers and are unused here.
    "${ROOT}/hack/go-build-cached.sh" "${dest}/${c}" -tags "no_btrfs no_devmapper" \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=v${CONTAINERD_VERSION}" \
      "github.com/containerd/containerd/v2/cmd/${c}" >&2
    log "${c} built in $(( $(date +%s) - start ))s"
  done
}

build_coredns() {
  local dest="${ROOT}/bin/coredns/${COREDNS_VERSION}"
  [ -x "${dest}/coredns" ] && return
  local dir="${ROOT}/bin/coredns/.build-${COREDNS_VERSION}"
  mkdir -p "${dir}"
  # Only the plugins a cluster DNS needs, and no forward: pods resolve
  # cluster names and nothing beyond the machine.
  cat > "${dir}/main.go" <<'EOM'
// Command coredns is CoreDNS with the plugins a cluster DNS needs.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// The order in which plugins handle a query, as in CoreDNS's plugin.cfg.
func init() {
	dnsserver.Directives = []string{"reload", "errors", "log", "health", "ready", "loadbalance", "cache", "loop", "kubernetes"}
}

func main() { coremain.Run() }
EOM
  cd "${dir}"
  if [ ! -f go.sum ]; then
    printf 'module streamdash.local/coredns\n\ngo 1.26\n' > go.mod
    GOFLAGS=-mod=mod go get "github.com/coredns/coredns@v${COREDNS_VERSION}" >&2
    GOFLAGS=-mod=mod go mod tidy >&2
  fi
  mkdir -p "${dest}"
  log "building coredns ${COREDNS_VERSION}"
  local start=$(date +%s)
  CGO_ENABLED=0 "${ROOT}/hack/go-build-cached.sh" "${dest}/coredns" -ldflags "-s -w" . >&2
  log "coredns built in $(( $(date +%s) - start ))s"
}

build_pause() {
  cd "${ROOT}"
  mkdir -p bin/node
  CGO_ENABLED=0 hack/go-build-cached.sh bin/node/pause -ldflags "-s -w" ./hack/pause >&2
}

parts=("$@")
[ "${#parts[@]}" -eq 0 ] && parts=(debian k8s containerd coredns pause)
for part in "${parts[@]}"; do
  case "${part}" in
    debian) ensure_debian ;;
    k8s) "${ROOT}/hack/k8s-build.sh" kubelet kube-controller-manager kube-scheduler kube-proxy ;;
    containerd) ( build_containerd ) ;;
    coredns) ( build_coredns ) ;;
    pause) ( build_pause ) ;;
    *) log "unknown part ${part} (debian, k8s, containerd, coredns, pause)"; exit 2 ;;
  esac
done
