#!/bin/sh
# Installs the pinned anvil node (Foundry's local Ethereum node, shipped in an
# npm package) into .tools/anvil, the git-ignored folder the tests look in.
# Does nothing when it is already there. Override with FUNDTRACE_ANVIL=/path/to/anvil.
set -eu
VERSION=1.7.1
cd "$(dirname "$0")/.."
BIN=.tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
if [ -n "${FUNDTRACE_ANVIL:-}" ]; then
    exit 0
fi
if [ -x "$BIN" ] && "$BIN" --version | grep -q "Version: $VERSION"; then
    exit 0
fi
echo "installing anvil $VERSION from npm into .tools/anvil" >&2
npm install --prefix .tools/anvil --no-save --no-audit --no-fund --loglevel=error \
    "@foundry-rs/anvil-linux-amd64@$VERSION"
"$BIN" --version >&2
