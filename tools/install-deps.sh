#!/usr/bin/env bash
# Installs the Debian packages ckpt needs to build and test (tools/debian-packages.txt) on a
# fresh Debian 12: as root directly, otherwise through sudo. Runs `apt-get update` first,
# since a fresh machine or container has empty package lists.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "install-deps.sh: installing packages: needs root or sudo" >&2
    exit 1
fi
# Package names, one a line; '#' starts a comment.
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' tools/debian-packages.txt)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
