#!/usr/bin/env bash
# Vendors the dashboard's front-end libraries (pinned in web/package.json and
# web/package-lock.json) into internal/dashboard/assets/vendor, where go:embed
# picks them up. The result is committed, so `go build` needs no npm; run this
# only to change a library's version.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/web"
npm ci --no-audit --no-fund --ignore-scripts >&2
out="$root/internal/dashboard/assets/vendor"
mkdir -p "$out"
cp node_modules/uplot/dist/uPlot.iife.min.js "$out/uPlot.iife.min.js"
cp node_modules/uplot/dist/uPlot.min.css "$out/uPlot.min.css"
cp node_modules/uplot/LICENSE "$out/uPlot.LICENSE"
version="$(node -p 'require("./node_modules/uplot/package.json").version')"
echo "$version" > "$out/uPlot.VERSION"
echo "dashboard-assets: uPlot $version vendored into $out" >&2
