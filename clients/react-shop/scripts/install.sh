#!/usr/bin/env bash
# npm ci when node_modules is missing or was installed from another package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.bayar-installed
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "!! npm is missing (Debian: apt-get install nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund
echo "$want" >"$stamp"
