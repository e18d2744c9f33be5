#!/usr/bin/env python3
"""Packages terraform-provider-ecsx the way the Terraform registry publishes providers, and
fills filesystem mirrors from that package.

    release.py package --version 0.1.0 --dist dist \\
                       --build linux_amd64=target/release/terraform-provider-ecsx \\
                       --build linux_arm64=target/cross/aarch64-unknown-linux-gnu/release/terraform-provider-ecsx
        dist/terraform-provider-ecsx_0.1.0_linux_amd64.zip   (holds terraform-provider-ecsx_v0.1.0)
        dist/terraform-provider-ecsx_0.1.0_linux_arm64.zip
        dist/terraform-provider-ecsx_0.1.0_SHA256SUMS        (every zip above and the manifest)
        dist/terraform-provider-ecsx_0.1.0_manifest.json     (terraform-registry-manifest.json)
    (`--binary B --target T` is the one-platform form of `--build T=B`.) Zips of the same
    version for platforms not built in this run are removed, so SHA256SUMS and dist/ agree.

    release.py mirror --zip dist/terraform-provider-ecsx_0.1.0_linux_amd64.zip --dir DIR \\
                      [--layout packed|unpacked]
        packed:   DIR/registry.terraform.io/ecsx/ecsx/terraform-provider-ecsx_0.1.0_linux_amd64.zip
        unpacked: DIR/registry.terraform.io/ecsx/ecsx/0.1.0/linux_amd64/terraform-provider-ecsx_v0.1.0

    release.py h1 ZIP
        prints the `h1:` package hash `terraform init` records in .terraform.lock.hcl

Only the standard library is used, and the zip is byte-for-byte reproducible (fixed
timestamps and permissions), so the same binary always gives the same SHA256SUMS.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import re
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "terraform-provider-ecsx"
ADDRESS = ("registry.terraform.io", "ecsx", "ecsx")
TARGET_RE = re.compile(r"^[a-z0-9]+_[a-z0-9]+$")
ZIP_RE = re.compile(rf"^{NAME}_(?P<version>[^_]+)_(?P<target>[a-z0-9]+_[a-z0-9]+)\.zip$")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_zip(binary: Path, version: str, target: str, dist: Path) -> Path:
    if not binary.is_file():
        sys.exit(f"release: {binary} is missing; build it first")
    zip_path = dist / f"{NAME}_{version}_{target}.zip"
    info = zipfile.ZipInfo(f"{NAME}_v{version}", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 << 16)  # a regular, executable file
    info.create_system = 3  # Unix, so the mode above is honoured when unpacking
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr(info, binary.read_bytes(), compresslevel=9)
    return zip_path


def package(builds: list[tuple[str, Path]], version: str, dist: Path) -> list[Path]:
    """Writes one zip per (target, binary), the manifest, and SHA256SUMS over all of them."""
    targets = [t for t, _ in builds]
    if len(set(targets)) != len(targets):
        sys.exit(f"release: a platform is named twice: {targets}")
    for t in targets:
        if not TARGET_RE.match(t):
            sys.exit(f"release: {t!r} is not OS_ARCH, e.g. linux_arm64")
    dist.mkdir(parents=True, exist_ok=True)
    zips = [write_zip(binary, version, target, dist) for target, binary in builds]
    # A zip of this version left from an earlier run for another platform would not match
    # SHA256SUMS: remove it rather than publish a stale build.
    for old in dist.glob(f"{NAME}_{version}_*.zip"):
        if old not in zips:
            print(f"release: removing {old.name}, not built in this run", file=sys.stderr)
            old.unlink()

    manifest = dist / f"{NAME}_{version}_manifest.json"
    shutil.copyfile(ROOT / "terraform-registry-manifest.json", manifest)

    # One line per artifact of this version, as goreleaser writes it for the registry.
    artifacts = sorted(zips + [manifest], key=lambda p: p.name)
    sums = dist / f"{NAME}_{version}_SHA256SUMS"
    sums.write_text("".join(f"{sha256(p.read_bytes())}  {p.name}\n" for p in artifacts))
    for p in (*zips, sums, manifest):
        print(p)
    return zips


def parse_zip_name(zip_path: Path) -> tuple[str, str]:
    m = ZIP_RE.match(zip_path.name)
    if not m:
        sys.exit(f"release: {zip_path.name} is not named {NAME}_VERSION_OS_ARCH.zip")
    return m["version"], m["target"]


def mirror(zip_path: Path, root: Path, layout: str) -> Path:
    """Places the package in a filesystem mirror, replacing the other layout of the same
    version so Terraform never sees two copies."""
    version, target = parse_zip_name(zip_path)
    base = root.joinpath(*ADDRESS)
    packed = base / zip_path.name
    unpacked = base / version / target
    base.mkdir(parents=True, exist_ok=True)
    if layout == "packed":
        shutil.rmtree(unpacked, ignore_errors=True)
        shutil.copyfile(zip_path, packed)
        placed = packed
    else:
        packed.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)
        unpacked.mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as z:
            for member in z.infolist():
                out = unpacked / member.filename
                out.write_bytes(z.read(member))
                out.chmod((member.external_attr >> 16) & 0o777 or 0o755)
        placed = unpacked / f"{NAME}_v{version}"
    print(placed)
    return placed


def h1(zip_path: Path) -> str:
    """Terraform's package hash (golang.org/x/mod/sumdb/dirhash Hash1 over the zip's files)."""
    with zipfile.ZipFile(zip_path) as z:
        lines = "".join(
            f"{sha256(z.read(name))}  {name}\n" for name in sorted(z.namelist()) if not name.endswith("/")
        )
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("package", help="write the registry release layout")
    p.add_argument("--build", action="append", default=[], metavar="OS_ARCH=BINARY",
                   help="a platform and its binary; repeat for each platform")
    p.add_argument("--binary", type=Path, help="with --target: one platform's binary")
    p.add_argument("--target", help="OS_ARCH, e.g. linux_amd64 (with --binary)")
    p.add_argument("--version", required=True)
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    m = sub.add_parser("mirror", help="put release zips into a filesystem mirror")
    m.add_argument("--zip", type=Path, action="append", required=True, help="repeat for each platform")
    m.add_argument("--dir", type=Path, required=True)
    m.add_argument("--layout", choices=("packed", "unpacked"), default="packed")
    h = sub.add_parser("h1", help="print the lock file hash of a release zip")
    h.add_argument("zip", type=Path)
    args = ap.parse_args()
    if args.cmd == "package":
        builds = []
        for b in args.build:
            target, sep, binary = b.partition("=")
            if not sep or not binary:
                ap.error(f"--build {b!r}: expected OS_ARCH=BINARY")
            builds.append((target, Path(binary)))
        if (args.binary is None) != (args.target is None):
            ap.error("--binary and --target go together")
        if args.binary is not None:
            builds.append((args.target, args.binary))
        if not builds:
            ap.error("nothing to package: give --build OS_ARCH=BINARY (or --binary and --target)")
        package(builds, args.version, args.dist)
    elif args.cmd == "mirror":
        for z in args.zip:
            mirror(z, args.dir, args.layout)
    else:
        print(h1(args.zip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
