#!/usr/bin/env python3
"""Packages terraform-provider-ecsx the way the Terraform registry publishes providers, and
fills filesystem mirrors from that package.

    release.py package --version 0.1.0 --dist dist [--gpg-key KEY] \\
                       --build linux_amd64=target/release/terraform-provider-ecsx \\
                       --build windows_amd64=target/cross/x86_64-pc-windows-gnu/release/terraform-provider-ecsx.exe
        dist/terraform-provider-ecsx_0.1.0_linux_amd64.zip   (holds terraform-provider-ecsx_v0.1.0)
        dist/terraform-provider-ecsx_0.1.0_windows_amd64.zip (holds terraform-provider-ecsx_v0.1.0.exe)
        dist/terraform-provider-ecsx_0.1.0_SHA256SUMS        (every zip above and the manifest)
        dist/terraform-provider-ecsx_0.1.0_SHA256SUMS.sig    (with --gpg-key or ECSX_GPG_KEY_ID: a
                                                              detached binary GPG signature)
        dist/terraform-provider-ecsx_0.1.0_manifest.json     (terraform-registry-manifest.json)
    (`--binary B --target T` is the one-platform form of `--build T=B`.) Zips of the same
    version for platforms not built in this run are removed, so SHA256SUMS and dist/ agree,
    and so is a signature left from an earlier run when this one signs nothing.

    release.py mirror --zip dist/terraform-provider-ecsx_0.1.0_linux_amd64.zip --dir DIR \\
                      [--layout packed|unpacked]
        packed:   DIR/registry.terraform.io/ecsx/ecsx/terraform-provider-ecsx_0.1.0_linux_amd64.zip
        unpacked: DIR/registry.terraform.io/ecsx/ecsx/0.1.0/linux_amd64/terraform-provider-ecsx_v0.1.0

    release.py netmirror --zip dist/terraform-provider-ecsx_0.1.0_linux_amd64.zip ... --dir DIR
        DIR/registry.terraform.io/ecsx/ecsx/index.json    {"versions": {"0.1.0": {}}}
        DIR/registry.terraform.io/ecsx/ecsx/0.1.0.json    {"archives": {"linux_amd64": {"url":
            "terraform-provider-ecsx_0.1.0_linux_amd64.zip", "hashes": ["h1:...", "zh:..."]}}}
        DIR/registry.terraform.io/ecsx/ecsx/terraform-provider-ecsx_0.1.0_linux_amd64.zip
        The provider network mirror protocol's layout, for any static HTTPS server; versions and
        platforms already in DIR are kept.

    release.py h1 ZIP
        prints the `h1:` package hash `terraform init` records in .terraform.lock.hcl

Only the standard library is used, and the zip is byte-for-byte reproducible (fixed
timestamps and permissions), so the same binary always gives the same SHA256SUMS.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
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


def binary_name(version: str, target: str) -> str:
    """The executable's name inside the zip: Terraform runs `terraform-provider-NAME_vVERSION`,
    with `.exe` on Windows."""
    return f"{NAME}_v{version}" + (".exe" if target.startswith("windows_") else "")


def write_zip(binary: Path, version: str, target: str, dist: Path) -> Path:
    if not binary.is_file():
        sys.exit(f"release: {binary} is missing; build it first")
    zip_path = dist / f"{NAME}_{version}_{target}.zip"
    info = zipfile.ZipInfo(binary_name(version, target), date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 << 16)  # a regular, executable file
    info.create_system = 3  # Unix, so the mode above is honoured when unpacking
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr(info, binary.read_bytes(), compresslevel=9)
    return zip_path


def sign(sums: Path, key: str) -> Path:
    """A detached, binary (not armored) GPG signature of SHA256SUMS, as the registry expects.
    gpg uses GNUPGHOME (or ~/.gnupg) and its agent for the key's passphrase."""
    sig = sums.with_name(sums.name + ".sig")
    sig.unlink(missing_ok=True)
    cmd = ["gpg", "--batch", "--yes", "--local-user", key, "--output", str(sig), "--detach-sign", str(sums)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("release: gpg is not installed; it signs SHA256SUMS when a key is given")
    if done.returncode != 0:
        sys.exit(f"release: signing {sums.name} with key {key!r} failed:\n{done.stderr.strip()}")
    return sig


def package(builds: list[tuple[str, Path]], version: str, dist: Path, gpg_key: str | None = None) -> list[Path]:
    """Writes one zip per (target, binary), the manifest, SHA256SUMS over all of them, and its
    signature when a GPG key is given."""
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
    written = [*zips, sums]
    if gpg_key:
        written.append(sign(sums, gpg_key))
    else:
        stale = sums.with_name(sums.name + ".sig")
        if stale.exists():
            print(f"release: removing {stale.name}, no key signs this run", file=sys.stderr)
            stale.unlink()
    for p in (*written, manifest):
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
        placed = unpacked / binary_name(version, target)
    print(placed)
    return placed


def netmirror(zips: list[Path], root: Path) -> Path:
    """Writes the provider network mirror protocol's files for these zips (one version or
    several) under root, keeping what root already lists."""
    base = root.joinpath(*ADDRESS)
    base.mkdir(parents=True, exist_ok=True)
    index_path = base / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"versions": {}}
    by_version: dict[str, list[Path]] = {}
    for z in zips:
        version, _ = parse_zip_name(z)
        by_version.setdefault(version, []).append(z)
    for version, vzips in by_version.items():
        vpath = base / f"{version}.json"
        doc = json.loads(vpath.read_text()) if vpath.exists() else {"archives": {}}
        for z in vzips:
            _, target = parse_zip_name(z)
            if z.resolve() != (base / z.name).resolve():
                shutil.copyfile(z, base / z.name)
            # The URL is relative to this file's own URL, so the mirror can live under any prefix.
            doc["archives"][target] = {"url": z.name, "hashes": [h1(z), zh(z)]}
        doc["archives"] = dict(sorted(doc["archives"].items()))
        vpath.write_text(json.dumps(doc, indent=2) + "\n")
        index["versions"][version] = {}
        print(vpath)
    index["versions"] = dict(sorted(index["versions"].items()))
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(index_path)
    return base


def h1(zip_path: Path) -> str:
    """Terraform's package hash (golang.org/x/mod/sumdb/dirhash Hash1 over the zip's files)."""
    with zipfile.ZipFile(zip_path) as z:
        lines = "".join(
            f"{sha256(z.read(name))}  {name}\n" for name in sorted(z.namelist()) if not name.endswith("/")
        )
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def zh(zip_path: Path) -> str:
    """The legacy `zh:` hash: the zip's own SHA-256, as SHA256SUMS lists it."""
    return "zh:" + sha256(zip_path.read_bytes())


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
    p.add_argument("--gpg-key", default=os.environ.get("ECSX_GPG_KEY_ID") or None,
                   help="sign SHA256SUMS with this GPG key (default: $ECSX_GPG_KEY_ID; unset: no signature)")
    m = sub.add_parser("mirror", help="put release zips into a filesystem mirror")
    m.add_argument("--zip", type=Path, action="append", required=True, help="repeat for each platform")
    m.add_argument("--dir", type=Path, required=True)
    m.add_argument("--layout", choices=("packed", "unpacked"), default="packed")
    n = sub.add_parser("netmirror", help="write the network mirror layout (index.json, VERSION.json, zips)")
    n.add_argument("--zip", type=Path, action="append", required=True, help="repeat for each platform")
    n.add_argument("--dir", type=Path, required=True)
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
        package(builds, args.version, args.dist, args.gpg_key)
    elif args.cmd == "mirror":
        for z in args.zip:
            mirror(z, args.dir, args.layout)
    elif args.cmd == "netmirror":
        netmirror(args.zip, args.dir)
    else:
        print(h1(args.zip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
