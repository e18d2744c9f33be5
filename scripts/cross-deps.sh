#!/usr/bin/env bash
# Installs what the cross builds (and their checks) need, for the platforms named as arguments
# (default: every cross-built one), when anything is missing:
#
#   all of them     Debian's Rust 1.96 (rustc-web, cargo-web: /usr/bin/rustc, /usr/bin/cargo)
#   linux_arm64     the aarch64 standard library (libstd-rust-web-dev:arm64), the aarch64 cross
#                   C toolchain and qemu-user for the smoke test
#   darwin_*        the standard library's source (rust-web-src, built per target with
#                   -Zbuild-std), llvm (llvm-objcopy, which rustc runs as rust-objcopy to strip
#                   Mach-O), and PyPI's ziglang + cargo-zigbuild in .venv-cross (zig links
#                   against its own libSystem stubs; no macOS SDK is needed)
#   windows_amd64   rust-web-src, nasm (aws-lc-sys's assembly), the MinGW-w64 C toolchain that
#                   links, and wine64 for the smoke test
#
# rustup cannot add targets here; Debian's and PyPI's packages can. Needs root (or sudo) the
# first time for apt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(linux_arm64 darwin_amd64 darwin_arm64 windows_amd64)

PACKAGES=(rustc-web cargo-web)
need_zig=
for p in "${platforms[@]}"; do
  case "$p" in
    linux_amd64) ;;
    linux_arm64) PACKAGES+=(libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) ;;
    darwin_amd64|darwin_arm64) PACKAGES+=(rust-web-src llvm); need_zig=1 ;;
    windows_amd64) PACKAGES+=(rust-web-src nasm gcc-mingw-w64-x86-64 wine64) ;;
    *) echo "cross-deps: no recipe for $p" >&2; exit 1 ;;
  esac
done
mapfile -t PACKAGES < <(printf '%s\n' "${PACKAGES[@]}" | sort -u)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "cross-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  command -v apt-get >/dev/null || { echo "cross-deps: not a Debian machine; install by hand: ${missing[*]}" >&2; exit 1; }
  echo "cross-deps: installing ${missing[*]}" >&2
  if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# zig and cargo-zigbuild, pinned in scripts/cross-requirements.txt, in their own venv.
if [ -n "$need_zig" ]; then
  venv=.venv-cross
  stamp=$venv/.requirements.stamp
  if [ ! -f "$stamp" ] || [ scripts/cross-requirements.txt -nt "$stamp" ]; then
    test -x $venv/bin/python || python3 -m venv $venv
    $venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/cross-requirements.txt
    touch "$stamp"
  fi
fi
