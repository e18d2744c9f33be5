#!/usr/bin/env bash
# Installs the Debian packages the linux_arm64 cross build and its qemu smoke test need, when
# any is missing: Debian's Rust 1.96 (rustc-web/cargo-web, installed as /usr/bin/rustc and
# /usr/bin/cargo), the aarch64 standard library, the aarch64 cross C toolchain and qemu-user.
# rustup cannot add targets here; Debian's packages can. Needs root (or sudo) the first time.
set -euo pipefail

PACKAGES=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "cross-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
command -v apt-get >/dev/null || { echo "cross-deps: not a Debian machine; install by hand: ${missing[*]}" >&2; exit 1; }

echo "cross-deps: installing ${missing[*]}" >&2
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
