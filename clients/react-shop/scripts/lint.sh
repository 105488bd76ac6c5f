#!/usr/bin/env bash
# The client's linters: Biome (lint and format) and the TypeScript compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
echo "+ biome check (clients/react-shop)"
npx --no-install biome check --error-on-warnings .
echo "+ tsc --noEmit (clients/react-shop)"
npx --no-install tsc --noEmit
