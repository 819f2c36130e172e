#!/usr/bin/env bash
# The Kinesis emulator (kinesis-mock's npm build) for tests and the demo.
#   hack/kinesis-local.sh install      install it under bin/ (once) and print its directory
#   hack/kinesis-local.sh start [PORT] run it in the foreground on PORT (default: a free port);
#                                      prints "kinesis-local listening on http://127.0.0.1:PORT"
set -euo pipefail

VERSION="${KINESIS_LOCAL_VERSION:-0.6.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${ROOT}/bin/kinesis-local/${VERSION}"
PKG="${PREFIX}/node_modules/kinesis-local"

install() {
  if [ ! -f "${PKG}/main.js" ]; then
    mkdir -p "${PREFIX}"
    echo "kinesis-local: installing kinesis-local@${VERSION} from npm" >&2
    npm install --prefix "${PREFIX}" --no-audit --no-fund --silent "kinesis-local@${VERSION}" >&2
  fi
  echo "${PKG}"
}

free_port() {
  python3 - <<'PY' 2>/dev/null || node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "${1:-install}" in
  install) install ;;
  start)
    dir="$(install)"
    port="${2:-$(free_port)}"
    tls="$(free_port)"
    cd "${dir}" # it reads its TLS certificate, server.json, from the working directory
    echo "kinesis-local listening on http://127.0.0.1:${port}"
    KINESIS_MOCK_PLAIN_PORT="${port}" KINESIS_MOCK_TLS_PORT="${tls}" LOG_LEVEL="${LOG_LEVEL:-WARN}" \
      CREATE_STREAM_DURATION="${CREATE_STREAM_DURATION:-200ms}" exec node main.js
    ;;
  *) echo "usage: $0 install|start [PORT]" >&2; exit 2 ;;
esac
