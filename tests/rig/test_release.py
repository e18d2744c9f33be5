"""Tests for scripts/release.py on stand-in binaries: the windows zip's `.exe`, reproducible
zips, the GPG signature of SHA256SUMS (a throwaway key in a temporary GNUPGHOME, checked with
`gpg --verify`), and the network mirror layout. Real builds and real Terraform installing from
the mirror: tests/e2e_release.rs (`make release-check`).

Run: .venv/bin/python -m pytest tests/rig/test_release.py -q
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "scripts" / "release.py"
NAME = "terraform-provider-ecsx"
PLATFORMS = ["linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64"]


def release(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(RELEASE), *args], capture_output=True, text=True, env=env)
    if check:
        assert done.returncode == 0, f"release.py {args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def stand_ins(directory: Path) -> list[str]:
    """One distinct fake binary per platform, as --build arguments."""
    builds = []
    for i, p in enumerate(PLATFORMS):
        b = directory / f"bin-{p}"
        b.write_bytes(f"not really a {p} build {i}\n".encode() * 100)
        builds += ["--build", f"{p}={b}"]
    return builds


def package(tmp: Path, version: str = "0.1.0", *extra: str, env: dict | None = None) -> Path:
    dist = tmp / "dist"
    release("package", "--version", version, "--dist", str(dist), *stand_ins(tmp), *extra, env=env)
    return dist


def no_key_env() -> dict:
    env = dict(os.environ)
    env.pop("ECSX_GPG_KEY_ID", None)
    return env


def test_five_zips_with_exe_only_on_windows_and_sums_over_all(tmp_path):
    dist = package(tmp_path, env=no_key_env())
    sums = (dist / f"{NAME}_0.1.0_SHA256SUMS").read_text().splitlines()
    listed = {line.split("  ")[1]: line.split("  ")[0] for line in sums}
    assert set(listed) == {f"{NAME}_0.1.0_{p}.zip" for p in PLATFORMS} | {f"{NAME}_0.1.0_manifest.json"}
    for name, digest in listed.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name
    for p in PLATFORMS:
        with zipfile.ZipFile(dist / f"{NAME}_0.1.0_{p}.zip") as z:
            members = z.namelist()
            assert members == [f"{NAME}_v0.1.0" + (".exe" if p == "windows_amd64" else "")], members
            assert z.read(members[0]) == (tmp_path / f"bin-{p}").read_bytes()
    assert not (dist / f"{NAME}_0.1.0_SHA256SUMS.sig").exists()


def test_zips_are_reproducible(tmp_path):
    first = package(tmp_path, env=no_key_env())
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    shutil.rmtree(first)
    again = package(tmp_path, env=no_key_env())
    assert {p.name: p.read_bytes() for p in again.iterdir()} == before


@pytest.fixture
def gnupg_home():
    """A throwaway keyring with one passphrase-less signing key; its agent is stopped after."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    # gpg-agent's socket path must stay short, so not under pytest's deep tmp_path.
    home = Path(tempfile.mkdtemp(prefix="ecsx-gpg-"))
    home.chmod(0o700)
    env = dict(os.environ, GNUPGHOME=str(home))
    env.pop("ECSX_GPG_KEY_ID", None)
    uid = "ecsx release test <release-test@ecsx.invalid>"
    subprocess.run(
        ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
         "--quick-generate-key", uid, "ed25519", "sign", "1d"],
        check=True, capture_output=True, env=env,
    )
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"],
                             check=True, capture_output=True, text=True, env=env).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    try:
        yield env, fpr
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def gpg_verify(env: dict, sig: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["gpg", "--batch", "--status-fd", "1", "--verify", str(sig), str(data)],
                          capture_output=True, text=True, env=env)


def test_sha256sums_signed_with_the_configured_key_verifies(tmp_path, gnupg_home):
    env, fpr = gnupg_home
    env = dict(env, ECSX_GPG_KEY_ID=fpr)
    dist = package(tmp_path, env=env)
    sums = dist / f"{NAME}_0.1.0_SHA256SUMS"
    sig = dist / f"{NAME}_0.1.0_SHA256SUMS.sig"
    raw = sig.read_bytes()
    assert not raw.startswith(b"-----BEGIN"), "the registry wants a binary signature, not an armored one"
    done = gpg_verify(env, sig, sums)
    assert done.returncode == 0, done.stderr
    assert f"VALIDSIG {fpr}" in done.stdout, done.stdout

    # A changed SHA256SUMS no longer verifies.
    sums.write_text(sums.read_text().replace("0", "1", 1))
    assert gpg_verify(env, sig, sums).returncode != 0

    # A later run without a key removes the signature rather than leave one that does not match.
    package(tmp_path, env=no_key_env() | {"GNUPGHOME": env["GNUPGHOME"]})
    assert not sig.exists()


def test_signing_with_an_unknown_key_fails_the_release(tmp_path, gnupg_home):
    env, _ = gnupg_home
    dist = tmp_path / "dist"
    done = release("package", "--version", "0.1.0", "--dist", str(dist), *stand_ins(tmp_path),
                   "--gpg-key", "no-such-key@ecsx.invalid", env=env, check=False)
    assert done.returncode != 0
    assert "signing" in done.stderr and "failed" in done.stderr, done.stderr


def h1_of(zip_path: Path) -> str:
    with zipfile.ZipFile(zip_path) as z:
        lines = "".join(f"{hashlib.sha256(z.read(n)).hexdigest()}  {n}\n" for n in sorted(z.namelist()))
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def test_network_mirror_layout_lists_every_platform_with_h1_and_zh(tmp_path):
    dist = package(tmp_path, env=no_key_env())
    mirror = tmp_path / "mirror"
    zips = sorted(dist.glob("*.zip"))
    release("netmirror", "--dir", str(mirror), *[a for z in zips for a in ("--zip", str(z))])
    base = mirror / "registry.terraform.io" / "ecsx" / "ecsx"
    assert json.loads((base / "index.json").read_text()) == {"versions": {"0.1.0": {}}}
    archives = json.loads((base / "0.1.0.json").read_text())["archives"]
    assert sorted(archives) == sorted(PLATFORMS)
    for p in PLATFORMS:
        z = dist / f"{NAME}_0.1.0_{p}.zip"
        entry = archives[p]
        assert entry["url"] == z.name
        assert (base / entry["url"]).read_bytes() == z.read_bytes()
        assert entry["hashes"] == [h1_of(z), "zh:" + hashlib.sha256(z.read_bytes()).hexdigest()]
        assert release("h1", str(z)).stdout.strip() == entry["hashes"][0]

    # A second version joins the index; the first keeps its archives.
    (tmp_path / "v2").mkdir()
    dist2 = package(tmp_path / "v2", "0.2.0", env=no_key_env())
    z2 = dist2 / f"{NAME}_0.2.0_linux_amd64.zip"
    release("netmirror", "--dir", str(mirror), "--zip", str(z2))
    assert json.loads((base / "index.json").read_text()) == {"versions": {"0.1.0": {}, "0.2.0": {}}}
    assert sorted(json.loads((base / "0.1.0.json").read_text())["archives"]) == sorted(PLATFORMS)
    assert list(json.loads((base / "0.2.0.json").read_text())["archives"]) == ["linux_amd64"]
