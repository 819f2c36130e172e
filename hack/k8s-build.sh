#!/usr/bin/env bash
# Builds Kubernetes components (kube-apiserver, kubectl, kubelet, ...) from
# the k8s.io/kubernetes Go module into bin/k8s/<version>/, offline but for the
# Go module proxy. Components already there are reused.
#
#   hack/k8s-build.sh kube-apiserver kubectl
#
# hack/envtest.sh builds the control plane with it, hack/node-tools.sh the
# node's components; both share one wrapper module and the Go build cache.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/bin/k8s/${K8S_VERSION}"
WORK="${ROOT}/bin/k8s/.build-${K8S_VERSION}"

log() { echo "k8s-build: $*" >&2; }

# Every component either script builds: the wrapper's go.sum covers them all.
ALL=(kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler kube-proxy)

tools_go() {
  printf '//go:build tools\n\npackage tools\n\nimport (\n'
  for c in "${ALL[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
  printf ')\n'
}

# k8s.io/kubernetes replaces its staging modules with local paths, so
# `go install k8s.io/kubernetes/cmd/...@v` is refused; a wrapper module that
# pins each staging module to the matching v0.x release works.
prepare_wrapper() {
  mkdir -p "${WORK}"
  cd "${WORK}"
  if [ -f go.sum ] && [ "$(cat tools.go 2>/dev/null)" = "$(tools_go)" ]; then return; fi
  log "preparing the wrapper module in ${WORK}"
  cat > go.mod <<EOM
module streamdash.local/k8s-tools

go 1.26

require k8s.io/kubernetes v${K8S_VERSION}
EOM
  tools_go > tools.go
  GOFLAGS=-mod=mod go mod download k8s.io/kubernetes@"v${K8S_VERSION}" >&2
  local modfile staging="v0.${K8S_VERSION#1.}"
  modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v${K8S_VERSION}.mod"
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "${modfile}" | awk '{print $1}' | sort -u |
    while read -r m; do echo "replace ${m} => ${m} ${staging}"; done >> go.mod
  GOFLAGS=-mod=mod go mod tidy >&2
}

# Without these the binaries call themselves v0.0.0-master, which a node
# reports in kubectl get nodes. They only change the link step, so the
# compiled packages stay shared in the build cache.
ldflags() {
  local minor
  minor="$(echo "${K8S_VERSION}" | cut -d. -f2)"
  local f="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X ${p}.gitVersion=v${K8S_VERSION} -X ${p}.gitMajor=${K8S_VERSION%%.*} -X ${p}.gitMinor=${minor}"
    f+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=1970-01-01T00:00:00Z"
  done
  echo "${f}"
}

# version_of prints the version a built component reports ("" if none).
version_of() {
  case "$1" in
    kubectl) "${DEST}/kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p' ;;
    *) "${DEST}/$1" --version 2>/dev/null | sed -n 's/^Kubernetes //p' ;;
  esac
}

want=()
for c in "$@"; do
  case " ${ALL[*]} " in *" ${c} "*) ;; *) log "unknown component ${c} (one of: ${ALL[*]})"; exit 2 ;; esac
  [ -x "${DEST}/${c}" ] || { want+=("${c}"); continue; }
  # A binary from before the version ldflags (or of another version) is
  # rebuilt; with a warm build cache that is only its link step.
  v="$(version_of "${c}")"
  if [ "${v}" != "v${K8S_VERSION}" ]; then
    log "${c} reports version '${v}', not v${K8S_VERSION}: rebuilding it"
    want+=("${c}")
  fi
done
[ "${#want[@]}" -eq 0 ] && exit 0

prepare_wrapper
mkdir -p "${DEST}"
for c in "${want[@]}"; do
  log "building ${c} ${K8S_VERSION} (minutes when the Go build cache is cold)"
  start=$(date +%s)
  "${ROOT}/hack/go-build-cached.sh" "${DEST}/${c}" -ldflags "$(ldflags)" "k8s.io/kubernetes/cmd/${c}" >&2
  log "${c} built in $(( $(date +%s) - start ))s"
done
