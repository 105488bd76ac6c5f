#!/usr/bin/env bash
# Builds the shop for the bayar at $1 (VITE_BAYAR_URL, read at build time) into $2 (default
# dist/). Nothing is done when that folder already holds the build of these sources for that URL.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: scripts/build.sh BAYAR_URL [OUT_DIR]}
out=${2:-dist}
scripts/install.sh
stamp=$out/.bayar-build
want=$( { echo "$url"; cat package-lock.json index.html vite.config.ts tsconfig.json;
          find src -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/index.html" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "react-shop: $out/ is up to date for $url"
    exit 0
fi
VITE_BAYAR_URL="$url" npx --no-install vite build --logLevel warn --outDir "$out" --emptyOutDir
echo "$want" >"$stamp"
echo "react-shop: built $out/ for $url"
