#!/usr/bin/env python3
"""Writes text-based stubs (.tbd) of the two macOS frameworks the darwin build links, so zig can
link it on Linux without a macOS SDK.

    darwin_stubs.py OUT_DIR
        OUT_DIR/Security.framework/Security.tbd
        OUT_DIR/CoreFoundation.framework/CoreFoundation.tbd

zig ships stubs of libSystem only. The AWS SDK's HTTPS client reads the trusted roots from the
macOS keychain (rustls-native-certs -> security-framework), so the final link also names
`-framework Security` and `-framework CoreFoundation`. A stub is what Apple's SDK ships in
place of the library: an install name and a list of exported symbols. These are made from the
`extern "C"` declarations of the two -sys crates at the versions in Cargo.lock, which are the
Apple APIs those crates bind, and they name the frameworks' real install names, so the binary
loads the system frameworks on macOS. A symbol the code uses that no stub lists fails the link
("undefined symbol"), never the run.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# -sys crate -> the framework its extern blocks bind.
FRAMEWORKS = {
    "security-framework-sys": "Security",
    "core-foundation-sys": "CoreFoundation",
}
TARGETS = "[ x86_64-macos, arm64-macos ]"

BLOCK_START = re.compile(r'extern\s+"C"\s*\{')
ITEM = re.compile(r"\b(?:fn\s+([A-Za-z_]\w*)\s*[(<]|static\s+(?:mut\s+)?([A-Za-z_]\w*)\s*:)")


def locked_versions(name: str) -> list[str]:
    lock = (ROOT / "Cargo.lock").read_text()
    return re.findall(rf'\[\[package\]\]\nname = "{re.escape(name)}"\nversion = "([^"]+)"', lock)


def crate_source(name: str, version: str) -> Path:
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    found = sorted((cargo_home / "registry" / "src").glob(f"*/{name}-{version}"))
    if not found:
        sys.exit(f"darwin_stubs: {name} {version} is not in {cargo_home}/registry/src; run cargo fetch --locked")
    return found[0]


def extern_symbols(source: str) -> set[str]:
    """Names declared in `extern "C" { ... }` blocks (functions and statics)."""
    names: set[str] = set()
    for m in BLOCK_START.finditer(source):
        depth, i = 1, m.end()
        while depth and i < len(source):
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        for item in ITEM.finditer(source[m.end():i - 1]):
            names.add(item.group(1) or item.group(2))
    return names


def tbd(framework: str, symbols: set[str]) -> str:
    install = f"/System/Library/Frameworks/{framework}.framework/Versions/A/{framework}"
    lines = [
        "--- !tapi-tbd",
        "tbd-version:     4",
        f"targets:         {TARGETS}",
        f"install-name:    '{install}'",
        "exports:",
        f"  - targets:         {TARGETS}",
        "    symbols:         [ " + ",\n                       ".join(f"_{s}" for s in sorted(symbols)) + " ]",
        "...",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit("usage: darwin_stubs.py OUT_DIR")
    out = Path(sys.argv[1])
    for crate, framework in FRAMEWORKS.items():
        versions = locked_versions(crate)
        if not versions:
            sys.exit(f"darwin_stubs: {crate} is not in Cargo.lock")
        symbols: set[str] = set()
        for v in versions:
            for rs in sorted(crate_source(crate, v).rglob("*.rs")):
                symbols |= extern_symbols(rs.read_text(errors="replace"))
        if not symbols:
            sys.exit(f"darwin_stubs: no extern declarations found in {crate}")
        path = out / f"{framework}.framework" / f"{framework}.tbd"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tbd(framework, symbols))
        print(f"{path}: {len(symbols)} symbols from {crate} {', '.join(versions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
