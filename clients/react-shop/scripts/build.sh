#!/usr/bin/env bash
# Builds the shop into dist/ for the bayar at $1 (VITE_BAYAR_URL, read at build time). Nothing is
# done when dist/ already holds the build of these sources for that URL.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: scripts/build.sh BAYAR_URL}
scripts/install.sh
stamp=dist/.bayar-build
want=$( { echo "$url"; cat package-lock.json index.html vite.config.ts tsconfig.json;
          find src -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1)
if [ -f dist/index.html ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "react-shop: dist/ is up to date for $url"
    exit 0
fi
VITE_BAYAR_URL="$url" npx --no-install vite build --logLevel warn
echo "$want" >"$stamp"
echo "react-shop: built dist/ for $url"
