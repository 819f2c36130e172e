#!/usr/bin/env bash
# Builds the envtest control plane offline: kube-apiserver and kubectl from the
# k8s.io/kubernetes Go module (hack/k8s-build.sh), etcd from Debian's etcd-server. setup-envtest
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

ensure_etcd
# The same wrapper module and build cache as the local node's components.
K8S_VERSION="${K8S_VERSION}" "${ROOT}/hack/k8s-build.sh" kube-apiserver kubectl
ln -sf "$(command -v etcd)" "${DEST}/etcd"
echo "${DEST}"
