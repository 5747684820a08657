#!/usr/bin/env bash
# Installs a real n8n (and the Node 24 it needs) into a cache outside the repo, once.
# Why a cache: n8n is ~2.8 GB and takes minutes to install; later runs reuse it.
set -euo pipefail
N8N_VERSION="${N8N_VERSION:-2.40.7}"
NODE_VERSION="${N8N_NODE_VERSION:-24}"
CACHE="${N8N_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/n8n-nodes-whatsapp-journeys}"
DIR="$CACHE/n8n-$N8N_VERSION"
if [ -f "$DIR/.ready" ]; then echo "$DIR"; exit 0; fi
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name":"n8n-testbed","private":true}' > package.json
echo "provision-n8n: installing n8n@$N8N_VERSION and node@$NODE_VERSION into $DIR (first run only, ~5 min, ~2.8 GB)" >&2
# --ignore-scripts: n8n's optional native builds try to download sources, which this network refuses.
npm install --no-audit --no-fund --ignore-scripts --loglevel=error "node@$NODE_VERSION" "n8n@$N8N_VERSION" >&2
# node@24's install script places the real binary; run it explicitly since scripts were skipped.
if ! "$DIR/node_modules/.bin/node" --version >/dev/null 2>&1; then
  (cd node_modules/node && npm run install --silent >&2) || true
fi
"$DIR/node_modules/.bin/node" --version >&2
touch "$DIR/.ready"
echo "$DIR"
