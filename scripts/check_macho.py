#!/usr/bin/env python3
"""Structural checks of darwin release binaries, for a machine with no macOS to run them on.

    check_macho.py [--macos-min 11.0] \\
                   --arch arm64 target/cross/aarch64-apple-darwin/release/terraform-provider-ecsx \\
                   --arch x86_64 target/cross/x86_64-apple-darwin/release/terraform-provider-ecsx

Each binary must be a thin 64-bit Mach-O executable for that CPU type, position independent
(MH_PIE), with an entry point (LC_MAIN), built for macOS (LC_BUILD_VERSION or
LC_VERSION_MIN_MACOSX) with the given minimum version, load only system libraries (/usr/lib/...,
/System/Library/...) and no @rpath / @executable_path ones. An arm64 binary must carry a code
signature (LC_CODE_SIGNATURE), since Apple silicon refuses to run unsigned arm64 code; x86_64
code runs unsigned. A signature, where there is one, must have CodeDirectory hashes that match
every page of the file as it is now (a file changed after signing is refused too).
Only the load commands and the signature blob are parsed; no Apple tool is needed.
Exits 1 with one line per failed check.
"""
from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

MH_MAGIC_64 = 0xFEEDFACF
FAT_MAGICS = (0xCAFEBABE, 0xCAFEBABF)
CPU_TYPES = {"arm64": 0x0100000C, "x86_64": 0x01000007}
MH_EXECUTE = 2
MH_PIE = 0x200000

LC_SEGMENT_64 = 0x19
LC_CODE_SIGNATURE = 0x1D
LC_BUILD_VERSION = 0x32
LC_VERSION_MIN_MACOSX = 0x24
LC_MAIN = 0x80000028
LC_RPATH = 0x8000001C
DYLIB_COMMANDS = {
    0x0C: "LC_LOAD_DYLIB",
    0x18 | 0x80000000: "LC_LOAD_WEAK_DYLIB",
    0x1F | 0x80000000: "LC_REEXPORT_DYLIB",
    0x20: "LC_LAZY_LOAD_DYLIB",
    0x23 | 0x80000000: "LC_LOAD_UPWARD_DYLIB",
}
PLATFORM_MACOS = 1
SYSTEM_PREFIXES = ("/usr/lib/", "/System/Library/")

CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSSLOT_CODEDIRECTORY = 0
CS_ADHOC = 0x2
CS_LINKER_SIGNED = 0x20000
HASH_TYPES = {1: ("sha1", 20), 2: ("sha256", 32), 3: ("sha256", 20), 4: ("sha384", 48)}


def cstring(data: bytes, start: int, end: int) -> str:
    raw = data[start:end]
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def version(v: int) -> str:
    return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


def version_number(text: str) -> str:
    """'11' or '11.0' -> '11.0.0', the form `version` prints."""
    parts = [int(x) for x in text.split(".")] + [0, 0]
    return f"{parts[0]}.{parts[1]}.{parts[2]}"


def check_signature(data: bytes, dataoff: int, datasize: int) -> tuple[list[str], str]:
    """Problems with the embedded signature, and a one-line description of it."""
    blob = data[dataoff:dataoff + datasize]
    if len(blob) < 12:
        return ["the code signature lies outside the file"], ""
    magic, _length, count = struct.unpack(">III", blob[:12])
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        return [f"the code signature is not an embedded-signature SuperBlob (magic {magic:#x})"], ""
    cd_off = None
    for i in range(count):
        slot, off = struct.unpack(">II", blob[12 + 8 * i:20 + 8 * i])
        if slot == CSSLOT_CODEDIRECTORY:
            cd_off = off
    if cd_off is None:
        return ["the code signature has no CodeDirectory"], ""
    cd = blob[cd_off:]
    (cd_magic, _cd_len, cd_version, flags, hash_off, ident_off, _n_special, n_code, code_limit,
     hash_size, hash_type, _platform, page_log2) = struct.unpack(">IIIIIIIIIBBBB", cd[:40])
    if cd_magic != CSMAGIC_CODEDIRECTORY:
        return [f"the CodeDirectory slot holds magic {cd_magic:#x}"], ""
    if hash_type not in HASH_TYPES or HASH_TYPES[hash_type][1] != hash_size:
        return [f"unknown CodeDirectory hash type {hash_type} (size {hash_size})"], ""
    algo = HASH_TYPES[hash_type][0]
    page = 1 << page_log2 if page_log2 else code_limit
    problems = []
    if code_limit != dataoff:
        problems.append(f"the signature covers {code_limit} bytes, but the signed part of the file is {dataoff}")
    expected_slots = (code_limit + page - 1) // page
    if n_code != expected_slots:
        problems.append(f"{n_code} page hashes for {expected_slots} pages")
    bad = []
    for i in range(min(n_code, expected_slots)):
        chunk = data[i * page:min((i + 1) * page, code_limit)]
        want = cd[hash_off + i * hash_size:hash_off + (i + 1) * hash_size]
        if hashlib.new(algo, chunk).digest()[:hash_size] != want:
            bad.append(i)
    if bad:
        problems.append(f"{len(bad)} of {n_code} page hashes do not match the file (first: page {bad[0]}): "
                        "changed after signing")
    kinds = [k for k, bit in (("ad-hoc", CS_ADHOC), ("linker-signed", CS_LINKER_SIGNED)) if flags & bit]
    ident = cstring(cd, ident_off, len(cd))
    desc = (f"CodeDirectory v{cd_version:#x} {'/'.join(kinds) or 'signed'}, identifier {ident!r}, "
            f"{n_code} {algo} page hashes of {page} bytes")
    return problems, desc


def check(path: Path, arch: str, macos_min: str | None = None) -> list[str]:
    data = path.read_bytes()
    if len(data) < 32:
        return [f"{path}: too short for a Mach-O header"]
    (magic,) = struct.unpack("<I", data[:4])
    if struct.unpack(">I", data[:4])[0] in FAT_MAGICS:
        return [f"{path}: a universal (fat) binary; expected a thin {arch} one"]
    if magic != MH_MAGIC_64:
        return [f"{path}: not a 64-bit Mach-O file (magic {data[:4].hex()})"]
    cputype, _subtype, filetype, ncmds, sizeofcmds, flags, _reserved = struct.unpack("<iiIIIII", data[4:32])
    problems = []
    if cputype != CPU_TYPES[arch]:
        names = {v: k for k, v in CPU_TYPES.items()}
        problems.append(f"CPU type {names.get(cputype, hex(cputype))}, expected {arch}")
    if filetype != MH_EXECUTE:
        problems.append(f"file type {filetype}, expected an executable (MH_EXECUTE)")
    if not flags & MH_PIE:
        problems.append("not position independent (no MH_PIE flag)")

    dylibs: list[tuple[str, str]] = []
    signature = None
    build = None
    has_main = False
    segments = []
    off = 32
    end = 32 + sizeofcmds
    for _ in range(ncmds):
        cmd, size = struct.unpack("<II", data[off:off + 8])
        if size < 8 or off + size > end:
            problems.append(f"a load command at offset {off} runs past the header")
            break
        body = data[off:off + size]
        if cmd in DYLIB_COMMANDS:
            (name_off,) = struct.unpack("<I", body[8:12])
            dylibs.append((DYLIB_COMMANDS[cmd], cstring(body, name_off, size)))
        elif cmd == LC_CODE_SIGNATURE:
            signature = struct.unpack("<II", body[8:16])
        elif cmd == LC_BUILD_VERSION:
            build = struct.unpack("<III", body[8:20])
        elif cmd == LC_VERSION_MIN_MACOSX:
            build = (PLATFORM_MACOS, *struct.unpack("<II", body[8:16]))
        elif cmd == LC_MAIN:
            has_main = True
        elif cmd == LC_RPATH:
            (p_off,) = struct.unpack("<I", body[8:12])
            problems.append(f"an LC_RPATH {cstring(body, p_off, size)!r}: a release binary needs none")
        elif cmd == LC_SEGMENT_64:
            segments.append(cstring(body, 8, 24))
        off += size

    if not has_main:
        problems.append("no entry point (LC_MAIN)")
    if build is None:
        problems.append("no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX")
    elif build[0] != PLATFORM_MACOS:
        problems.append(f"built for platform {build[0]}, expected macOS ({PLATFORM_MACOS})")
    elif macos_min is not None and version(build[1]) != version_number(macos_min):
        problems.append(f"requires macOS {version(build[1])}, expected {version_number(macos_min)}")
    if not dylibs:
        problems.append("loads no libraries at all (not even libSystem)")
    for kind, name in dylibs:
        if not name.startswith(SYSTEM_PREFIXES) or "@" in name:
            problems.append(f"{kind} {name}: not a system library")
    if not any(name == "/usr/lib/libSystem.B.dylib" for _, name in dylibs):
        problems.append("does not load /usr/lib/libSystem.B.dylib")
    sig_desc = ""
    if signature is None:
        if arch == "arm64":
            problems.append("no code signature (LC_CODE_SIGNATURE): Apple silicon will not run it")
        else:
            sig_desc = "none (x86_64 code runs unsigned)"
    else:
        sig_problems, sig_desc = check_signature(data, *signature)
        problems += sig_problems

    status = "FAIL" if problems else "ok"
    print(f"{status}: {path} ({len(data)} bytes)")
    print(f"  Mach-O 64-bit executable, {arch if cputype == CPU_TYPES[arch] else hex(cputype)}, "
          f"flags {flags:#x}{' PIE' if flags & MH_PIE else ''}, segments {', '.join(segments)}")
    if build is not None:
        print(f"  macOS minimum {version(build[1])}, SDK {version(build[2])}")
    for kind, name in dylibs:
        print(f"  {kind} {name}")
    if sig_desc:
        print(f"  signature: {sig_desc}")
    return [f"{path}: {p}" for p in problems]


def main() -> int:
    # `--arch A FILE` pairs in order (argparse cannot tie an option to the positional after it).
    argv = sys.argv[1:]
    if argv in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    usage = "usage: check_macho.py [--macos-min X.Y] --arch {arm64|x86_64} FILE [--arch ... FILE ...]"
    macos_min = None
    if argv[:1] == ["--macos-min"] and len(argv) >= 2:
        macos_min, argv = argv[1], argv[2:]
    if not argv or len(argv) % 3 or any(argv[i] != "--arch" for i in range(0, len(argv), 3)):
        sys.exit(usage)
    failures = []
    for i in range(0, len(argv), 3):
        arch, path = argv[i + 1], Path(argv[i + 2])
        if arch not in CPU_TYPES:
            sys.exit(f"check_macho.py: --arch {arch}: one of {', '.join(sorted(CPU_TYPES))}")
        if not path.is_file():
            failures.append(f"{path}: missing; build it first")
            continue
        failures += check(path, arch, macos_min)
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
