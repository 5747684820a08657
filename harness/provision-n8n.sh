#!/usr/bin/env bash
# Installs a real n8n (and the Node 24 it needs) into a cache outside the repo, once.
# Why a cache: n8n is ~2.8 GB and takes minutes to install; later runs reuse it.
# Prints the cache directory on stdout; progress goes to stderr. Safe to run concurrently (flock).
set -euo pipefail
N8N_VERSION="${N8N_VERSION:-2.40.7}"
NODE_VERSION="${N8N_NODE_VERSION:-24}"
CACHE="${N8N_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/n8n-nodes-whatsapp-journeys}"
DIR="$CACHE/n8n-$N8N_VERSION"
NODE_BIN="$DIR/node_modules/node/bin/node"
if [ -f "$DIR/.ready" ]; then echo "$DIR"; exit 0; fi
mkdir -p "$DIR"
# A second caller waits for the first install instead of racing it in the same folder.
exec 9>"$CACHE/.provision-$N8N_VERSION.lock"
flock 9
if [ -f "$DIR/.ready" ]; then echo "$DIR"; exit 0; fi
cd "$DIR"
[ -f package.json ] || echo '{"name":"n8n-testbed","private":true}' > package.json

installed_version() {
  [ -f node_modules/n8n/package.json ] && [ -f package-lock.json ] &&
    sed -n 's/^  "version": "\(.*\)",$/\1/p' node_modules/n8n/package.json
}
# npm writes package-lock.json last, so a lock file plus the right n8n version means the big install finished
# (lets a run resume after only the Node step failed, without another 5-minute install).
if [ "$(installed_version || true)" != "$N8N_VERSION" ]; then
  echo "provision-n8n: installing n8n@$N8N_VERSION and node@$NODE_VERSION into $DIR (first run only, ~5 min, ~2.8 GB)" >&2
  # --ignore-scripts: n8n's optional native builds try to download sources, which this network refuses.
  # --save-exact: a later `npm install` here must not float to an n8n release this registry cannot install.
  npm install --no-audit --no-fund --ignore-scripts --save-exact --loglevel=error \
    "node@$NODE_VERSION" "n8n@$N8N_VERSION" >&2
fi
# The `node` package fetches the real binary in its preinstall script, which --ignore-scripts skipped.
if ! "$NODE_BIN" --version >/dev/null 2>&1; then
  echo "provision-n8n: fetching the Node $NODE_VERSION binary" >&2
  (cd node_modules/node && npm run preinstall --silent >&2)
fi
echo "provision-n8n: $("$NODE_BIN" --version) at $NODE_BIN" >&2
touch "$DIR/.ready"
echo "$DIR"
