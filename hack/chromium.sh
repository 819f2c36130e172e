#!/usr/bin/env bash
# Debian's Chromium for the browser tests (chromedp drives it headless).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium: installing Debian's chromium" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2; }
  exit 0
fi
echo "chromium: not installed; install Debian's chromium package (the browser tests need it)" >&2
exit 1
