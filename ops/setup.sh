#!/usr/bin/env bash
# Installs the system packages nnserve builds against, only those that are missing.
# Runs as root (CI, containers) or through sudo when it is available.
set -euo pipefail
packages=(libopenblas-dev libzstd-dev zlib1g-dev libprotobuf-c-dev protobuf-compiler protobuf-c-compiler libsqlite3-dev sqlite3 gcc make pkg-config curl openssl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing system packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null; then
  run=(sudo)
else
  echo "need root to apt-get install ${missing[*]}" >&2
  exit 1
fi
"${run[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
