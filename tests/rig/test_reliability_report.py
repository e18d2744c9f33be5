"""Tests for scripts/reliability_report.py: rows in, docs/reliability.md out.

Run: .venv/bin/python -m pytest tests/rig/test_reliability_report.py -q
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import reliability_report  # noqa: E402


def write_rows(directory: Path, suite: str, rows: list[dict]) -> None:
    with open(directory / f"{suite}.jsonl", "a") as f:
        for r in rows:
            f.write(json.dumps({"suite": suite, **r}) + "\n")


def row(case: str, passed: bool = True, **extra) -> dict:
    return {
        "case": case,
        "input": "in",
        "expected": "converges",
        "outcome": "ok" if passed else "FAILED",
        "pass": passed,
        **extra,
    }


def test_renders_known_suites_first_with_figures_and_a_summary(tmp_path):
    write_rows(tmp_path, "zeta", [row("z", expected="other")])
    write_rows(tmp_path, "crash", [row("a", figures={"samples": 40, "unsteady_moments": 0})])
    write_rows(tmp_path, "faults", [row("throttle | x2", figures={"api_calls": 47})])
    out = tmp_path / "reliability.md"
    assert reliability_report.main(["--rows", str(tmp_path), "--out", str(out), "--seconds", "125"]) == 0
    text = out.read_text()
    assert text.index("## Faults injected") < text.index("## Kill points") < text.index("## Zeta")
    assert "2 min 5 s wall time" in text
    assert "**3 of 3 recorded cases passed.**" in text
    assert "| # | case | input | outcome | pass | api calls |" in text
    assert "throttle \\| x2" in text, "pipes in cells are escaped"
    assert "| 1 | a | in | ok | PASS | 40 | 0 |" in text
    assert "Expected in every case: converges." in text


def test_a_failed_row_fails_the_run_and_shows(tmp_path):
    write_rows(tmp_path, "load", [row("20 services", passed=False)])
    out = tmp_path / "r.md"
    assert reliability_report.main(["--rows", str(tmp_path), "--out", str(out)]) == 1
    assert "**FAIL**" in out.read_text()


def test_no_rows_is_a_failure(tmp_path):
    assert reliability_report.main(["--rows", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 1


def test_reads_nextest_and_pytest_logs(tmp_path):
    write_rows(tmp_path, "faults", [row("x")])
    log = tmp_path / "nextest.log"
    log.write_text(
        "        PASS [  17.397s] ( 1/13) terraform-provider-ecsx::e2e_faults quick_case\n"
        "        SLOW [> 60.000s] (─────) terraform-provider-ecsx::protocol slow_one\n"
        "     TIMEOUT [ 300.010s] ( 2/13) terraform-provider-ecsx::protocol slow_one\n"
        "     Summary [ 301.000s] 2 tests run: 1 passed, 1 timed out\n"
        "     TIMEOUT [ 300.010s] ( 2/13) terraform-provider-ecsx::protocol slow_one\n"
    )
    pytest_log = tmp_path / "pytest.log"
    pytest_log.write_text("...................\n19 passed in 21.93s\n")
    out = tmp_path / "r.md"
    reliability_report.main([
        "--rows", str(tmp_path), "--log", str(log), "--pytest-log", str(pytest_log), "--out", str(out),
    ])
    text = out.read_text()
    assert "nextest: 1 of 2 tests passed" in text
    assert "**nextest: 1 of 2 tests passed.** Not passed (a test that dies records no row): `protocol::slow_one` (TIMEOUT)" in text
    assert "| e2e_faults | quick_case | PASS | 17.4 |" in text
    assert "| protocol | slow_one | **TIMEOUT** | 300.0 |" in text
    assert "19 passed in 21.93s" in text


def test_the_chaos_record_is_copied_in_after_the_suites(tmp_path):
    write_rows(tmp_path, "faults", [row("x")])
    chaos = tmp_path / "chaos.md"
    chaos.write_text("## Randomized release walk\n\n12 sequences, 0 failed.\n")
    log = tmp_path / "nextest.log"
    log.write_text("        PASS [  1.000s] ( 1/1) terraform-provider-ecsx::e2e_faults quick_case\n")
    out = tmp_path / "r.md"
    args = ["--rows", str(tmp_path), "--log", str(log), "--out", str(out)]
    assert reliability_report.main(args + ["--chaos-section", str(chaos)]) == 0
    text = out.read_text()
    assert text.index("## Faults injected") < text.index("## Randomized release walk") < text.index("## Test runs")
    assert "12 sequences, 0 failed." in text
    assert reliability_report.main(args + ["--chaos-section", str(tmp_path / "none.md")]) == 0
    assert "Randomized release walk" not in out.read_text()
