#!/usr/bin/env bash
# The package as an operator installs it (docs/runbook-consortium.md#install-the-node-as-a-service):
# `npm pack`, the tarball installed globally into a temporary prefix (better-sqlite3 compiled
# there; nothing compiled from TypeScript: the tarball carries dist/), `mamori --help`, a node
# of a dev consortium started from the installed command and answering `mamori status`, and
# the systemd unit passing `systemd-analyze verify` with its ExecStart pointing at the
# installed command (verify checks that the command exists). Run by .ci/run after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v systemd-analyze >/dev/null 2>&1 || { echo "check-package: systemd-analyze is needed (Debian: apt-get install systemd)" >&2; exit 1; }

work=$(mktemp -d)
node_pid=
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill -TERM "$node_pid"; wait "$node_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "npm pack"
npm pack --pack-destination "$work" --silent >/dev/null
tarball=$(ls "$work"/mamori-*.tgz)
listing=$(tar -tzf "$tarball")
for must in package/bin/mamori.js package/dist/node/src/cli/main.js package/dist/client-sdk/src/index.js package/packaging/mamori.service package/proto/mamori/v1/exchange.proto; do
  grep -qx "$must" <<<"$listing" || { echo "check-package: $must is not in $tarball" >&2; exit 1; }
done
if grep -q '^package/dist/test/' <<<"$listing"; then echo "check-package: the tests are in $tarball" >&2; exit 1; fi
echo "$(wc -l <<<"$listing") files, $(du -k "$tarball" | cut -f1) KiB"

step "npm install -g --prefix $work/prefix"
# --prefer-offline: the packages npm ci fetched come from the cache.
npm install -g --prefix "$work/prefix" --prefer-offline --no-audit --no-fund "$tarball"
mamori="$work/prefix/bin/mamori"
installed="$work/prefix/lib/node_modules/mamori"
# Installing a tarball does not run its prepare script: no TypeScript compiler came with it.
if [ -e "$installed/node_modules/typescript" ]; then echo "check-package: typescript was installed with the package" >&2; exit 1; fi

step "mamori --help"
"$mamori" --help >"$work/help.txt"
sed -n 1,3p "$work/help.txt"
grep -q '^Usage: mamori' "$work/help.txt"

step "a node started from the installed command"
base_port=$((20000 + RANDOM % 10000))
"$mamori" dev-consortium --dir "$work/dev" --base-port "$base_port" >/dev/null
"$mamori" start --config "$work/dev/psp-c/node.json" >"$work/node.log" 2>&1 &
node_pid=$!
serving=
for _ in $(seq 1 240); do
  if "$mamori" status --config "$work/dev/psp-c/client.json" >"$work/status.txt" 2>/dev/null; then serving=1; break; fi
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.25
done
if [ -z "$serving" ]; then echo "check-package: the installed node did not answer mamori status; its log:" >&2; cat "$work/node.log" >&2; exit 1; fi
sed -n 1,3p "$work/status.txt"
kill -TERM "$node_pid"
wait "$node_pid"
node_pid=

step "systemd-analyze verify packaging/mamori.service (ExecStart: the installed command)"
unit="$work/mamori.service"
sed "s#^ExecStart=/usr/local/bin/mamori #ExecStart=$mamori #" packaging/mamori.service >"$unit"
grep -q "^ExecStart=$mamori start " "$unit" || { echo "check-package: ExecStart of packaging/mamori.service is not /usr/local/bin/mamori start …" >&2; exit 1; }
systemd-analyze verify "$unit"
echo "check-package: ok"
