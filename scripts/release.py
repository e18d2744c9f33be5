#!/usr/bin/env python3
"""Packages terraform-provider-ecsx the way the Terraform registry publishes providers, and
fills filesystem mirrors from that package.

    release.py package --binary target/release/terraform-provider-ecsx --version 0.1.0 \\
                       --target linux_amd64 --dist dist
        dist/terraform-provider-ecsx_0.1.0_linux_amd64.zip   (holds terraform-provider-ecsx_v0.1.0)
        dist/terraform-provider-ecsx_0.1.0_SHA256SUMS
        dist/terraform-provider-ecsx_0.1.0_manifest.json     (terraform-registry-manifest.json)

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
ZIP_RE = re.compile(rf"^{NAME}_(?P<version>[^_]+)_(?P<target>[a-z0-9]+_[a-z0-9]+)\.zip$")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package(binary: Path, version: str, target: str, dist: Path) -> Path:
    if not binary.is_file():
        sys.exit(f"release: {binary} is missing; build it first")
    dist.mkdir(parents=True, exist_ok=True)
    zip_path = dist / f"{NAME}_{version}_{target}.zip"
    info = zipfile.ZipInfo(f"{NAME}_v{version}", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 << 16)  # a regular, executable file
    info.create_system = 3  # Unix, so the mode above is honoured when unpacking
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr(info, binary.read_bytes(), compresslevel=9)

    manifest = dist / f"{NAME}_{version}_manifest.json"
    shutil.copyfile(ROOT / "terraform-registry-manifest.json", manifest)

    # One line per artifact of this version, as goreleaser writes it for the registry.
    artifacts = sorted(p for p in dist.glob(f"{NAME}_{version}_*") if p.suffix in (".zip", ".json"))
    sums = dist / f"{NAME}_{version}_SHA256SUMS"
    sums.write_text("".join(f"{sha256(p.read_bytes())}  {p.name}\n" for p in artifacts))
    for p in (zip_path, sums, manifest):
        print(p)
    return zip_path


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
    p.add_argument("--binary", type=Path, required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--target", required=True, help="OS_ARCH, e.g. linux_amd64")
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    m = sub.add_parser("mirror", help="put a release zip into a filesystem mirror")
    m.add_argument("--zip", type=Path, required=True)
    m.add_argument("--dir", type=Path, required=True)
    m.add_argument("--layout", choices=("packed", "unpacked"), default="packed")
    h = sub.add_parser("h1", help="print the lock file hash of a release zip")
    h.add_argument("zip", type=Path)
    args = ap.parse_args()
    if args.cmd == "package":
        package(args.binary, args.version, args.target, args.dist)
    elif args.cmd == "mirror":
        mirror(args.zip, args.dir, args.layout)
    else:
        print(h1(args.zip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
