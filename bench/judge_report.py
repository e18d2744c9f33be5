"""The judge's section of docs/benchmarks.md and its goals, from bench/judge.py's results; and
`splice`, which rewrites that section (and those goals) in an existing report when only the
judge bench ran. Runnable on its own to redo the section from saved numbers:
    python bench/judge_report.py bench/results/judge-DATE.json [docs/benchmarks.md]
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from pathlib import Path

TITLE = "## The judge's cost"
GET_METRIC_DATA = "cloudwatch.GetMetricData"
LABEL = {"judge": "judged (`compare`)", "alarms": "one alarm (`alarm_names`)", "none": "no `analysis` block"}
# What a bake re-reads at every check (the release itself: canary task set and routers).
REREADS = ("ecs.DescribeTaskSets", "elbv2.DescribeListeners", "elbv2.DescribeRules")


def med(xs):
    return statistics.median(xs)


def _p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def _read(row: dict) -> int:
    return sum(1 for c in row["checks"] if c["read"])


def section(results: dict) -> list[str]:
    out: list[str] = []
    w = out.append
    j = results["judge"]
    ci = j["check_interval"]
    calls = j["calls"]
    judged = calls["judge"]
    w(TITLE)
    w("")
    w(f"[bench/judge.py](../bench/judge.py), one deployment per release ([bench/judge](../bench/judge/main.tf)), "
      "each on an emulator and counting proxy of its own, with ALB-style CloudWatch points (`AWS/ApplicationELB`, "
      "`RequestCount`, `HTTPCode_Target_5XX_Count`, `TargetResponseTime` per target group and load balancer) "
      f"published on the real clock, which the provider reads. The judge reads `window = \"{j['window']}\"` with "
      f"`delay = \"{j['delay']}\"` every `check_interval = \"{ci:g}s\"`, `compare {{ min_requests = 50 }}`: one "
      "load balancer, so each check that reads a window asks for 10 series (5 per target group) in one "
      "GetMetricData call.")
    m = j.get("machine")
    if m:
        w("")
        w(f"Run on {m['date']} on its own (`--only judge`): load average {m['load_at_start'][0]:.1f} at the start "
          f"and {m['load_at_end'][0]:.1f} at the end, from other work on the machine's {m['cores']} cores.")
    w("")
    w("### CloudWatch calls per check and per release")
    w("")
    steps = ", ".join(f"{s['traffic_percent']}% for {s['pause']}" for s in j["call_steps"])
    w(f"The same healthy release ({steps}, promoted in the same apply; the canary 0% 5XX like the baseline) "
      "three ways side by side: judged; watching one alarm that stays OK at the same `check_interval`; and "
      "without an `analysis` block (the bake then re-reads the release every 30 s). Calls are counted at the "
      "proxy over the whole `terraform apply`, plan included; checks are the provider's `judged` log lines. A "
      "check before its step's first whole window is readable reads nothing from CloudWatch.")
    w("")
    w("| release | apply wall time | AWS calls | `GetMetricData` | checks (read a window) | GetMetricData per check that read | result |")
    w("|---|---|---|---|---|---|---|")
    for watch in ("judge", "alarms", "none"):
        r = calls[watch]
        gmd = r["calls"].get(GET_METRIC_DATA, 0)
        if watch == "judge":
            read = _read(r)
            bursts = r["get_metric_data_bursts"]
            per = f"{gmd / read:.2f} (one check: {min(bursts)}–{max(bursts)})" if read else "–"
            checks = f"{len(r['checks'])} ({read})"
        else:
            per, checks = "–", "–"
        w(f"| {LABEL[watch]} | {r['apply_s']:.1f} s | {r['total']} | {gmd} | {checks} | {per} | promoted |")
    w("")
    ops = sorted({op for r in calls.values() for op in r["calls"]})
    w("Calls per operation over the release:")
    w("")
    w("| operation | judged | one alarm | no analysis | judged − no analysis | judged − one alarm |")
    w("|---|---|---|---|---|---|")
    for op in ops:
        n = {k: calls[k]["calls"].get(op, 0) for k in calls}
        w(f"| `{op}` | {n['judge']} | {n['alarms']} | {n['none']} | {n['judge'] - n['none']:+d} | "
          f"{n['judge'] - n['alarms']:+d} |")
    w(f"| **all** | {judged['total']} | {calls['alarms']['total']} | {calls['none']['total']} | "
      f"**{judged['total'] - calls['none']['total']:+d}** | {judged['total'] - calls['alarms']['total']:+d} |")
    w("")
    none, alarms = calls["none"], calls["alarms"]
    gmd = judged["calls"].get(GET_METRIC_DATA, 0)
    rereads = sum(judged["calls"].get(op, 0) - none["calls"].get(op, 0) for op in REREADS)
    w(f"The judge's share: {judged['total'] - none['total']:+d} calls over the release without an analysis "
      f"block ({judged['total']} against {none['total']}), {gmd} of them GetMetricData and {rereads} the "
      f"bake's re-reads of the release ({', '.join(f'`{op}`' for op in REREADS)}), which every check makes "
      f"first: a judged bake wakes every `check_interval` ({ci:g} s), an unwatched one every 30 s. Watching one "
      f"alarm at the same interval made {alarms['total']} calls: a DescribeAlarms at every check "
      f"({alarms['calls'].get('cloudwatch.DescribeAlarms', 0)}), where the judge calls CloudWatch only once a "
      "whole window is readable.")
    w("")
    w("How many of a step's checks read a window depends on where in its minute the step began: its first "
      "whole window is readable 60–120 s after its weight was set, so in a 2-minute pause the last 0–60 s of "
      "checks read one (the releases of different runs make different counts).")
    w("")
    per_check = judged.get("per_check") or {}
    if per_check:
        w(f"Every check, in the steady state of a bake (the calls between a step's first and last check, over "
          f"its checks after the first; {per_check['checks']} checks): "
          + ", ".join(f"`{op}` {n:.2f}" for op, n in sorted(per_check["ops"].items()))
          + f"; {sum(per_check['ops'].values()):.2f} AWS calls per check in all.")
        w("")
    w("### From the first bad window readable to traffic back at 100/0")
    w("")
    lat = j["latency"]
    bad_c, bad_b = j["traffic"]["bad"]
    w(f"A release bakes at 10% (pause 10 minutes) on healthy minutes; from minute M, the second whole minute of "
      f"the step's traffic (so one healthy window passes first), the canary answers {bad_c[1]} 5XX in "
      f"{bad_c[0]} requests a minute against the baseline's {bad_b[1]} in {bad_b[0]}. With a 1-minute window and "
      f"no delay, the first bad window [M, M+60 s) is readable at M+60 s, the zero of these times. From the "
      "proxy's timestamped call log: the GetMetricData answer that saw it (the last one before the rollback's "
      "first router write), the last ModifyRule / ModifyListener answer (traffic written back to 100/0), the "
      "last DescribeRules / DescribeListeners answer after it (**read back**); and when the bench, polling the "
      f"emulator every 20 ms, saw all three routers at 100/0. {len(lat)} releases, each on its own emulator, "
      f"started one minute apart, each offset at random within its own 1/{len(lat)} of a check interval, so their "
      "checks fall across it: the judge sees the window at the first check after it is readable, so the figure is "
      f"bounded by `check_interval` ({ci:g} s) plus the rollback's own writes and reads.")
    w("")
    w("| figure | median | 90th percentile | worst | best |")
    w("|---|---|---|---|---|")
    for key, name in (("check_started", "the check that saw it starts its GetMetricData"),
                      ("seen", "its GetMetricData answered (FAIL)"),
                      ("first_write", "first router write starts"),
                      ("written", "traffic written back to 100/0 (last ModifyRule / ModifyListener answer)"),
                      ("read_back", "**read back at 100/0** (last DescribeRules / DescribeListeners answer)"),
                      ("observed", "the emulator shows 100/0 (bench's 20 ms poll)")):
        xs = [r[key] for r in lat if r.get(key) is not None]
        if not xs:
            continue
        bold = "**" if key == "read_back" else ""
        w(f"| {name} | {bold}{med(xs):.2f} s{bold} | {_p90(xs):.2f} s | {max(xs):.2f} s | {min(xs):.2f} s |")
    w("")
    rb = [r["read_back"] for r in lat]
    wait = [r["check_started"] for r in lat if r.get("check_started") is not None]
    act = [r["read_back"] - r["check_started"] for r in lat if r.get("check_started") is not None]
    w(f"Of the median {med(rb):.2f} s, waiting for the next check takes {med(wait):.2f} s (uniform over "
      f"0–{ci:g} s if the checks fall at random, {ci / 2:g} s on average), and the check itself with the "
      f"rollback {med(act):.2f} s (from the check's GetMetricData to the routers read back).")
    w("")
    # Every check reads the newest whole window, so a window is read again at each check until
    # the next minute's window is whole: about window-step / check_interval reads of each.
    reads = [n for r in lat if r.get("windows")
             for win, n in Counter(x for x in r["windows"] if x).items() if win != r["windows"][-1]]
    if reads:
        w(f"Each check reads the newest whole window, so a 1-minute window is read again at every check until "
          f"the next minute's is whole: the healthy windows before the bad one were read by {med(reads):g} checks "
          f"each (median; {min(reads)}–{max(reads)}), one GetMetricData call each, about 60 s / `check_interval`. "
          f"A release that bakes an hour this way makes about {3600 / ci:.0f} GetMetricData calls. That is the "
          f"bench's `delay = \"0s\"`, where late points may still change a window; with a `delay` of a minute or "
          f"more (the default is 3m) a window that passed is not read again, about 60 calls an hour.")
        w("")
    return out


def goals(results: dict) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    if "judge" not in results:
        return rows
    j = results["judge"]
    ci = j["check_interval"]
    judged = j["calls"]["judge"]
    read = _read(judged)
    gmd = judged["calls"].get(GET_METRIC_DATA, 0)
    bursts = judged["get_metric_data_bursts"]
    rows.append(("judge: one GetMetricData call per check that reads a window (all queries, one page)",
                 f"{gmd} calls for {read} checks; at most {max(bursts) if bursts else 0} in one check",
                 read > 0 and gmd == read and max(bursts) == 1))
    xs = [r["read_back"] for r in j["latency"]]
    rows.append((f"judge rollback, first bad window readable to read back at 100/0: median at most "
                 f"check_interval/2 + 1 s ({ci / 2 + 1:g} s), as for an alarm",
                 f"{med(xs):.2f} s", med(xs) <= ci / 2 + 1))
    rows.append((f"judge rollback: worst at most check_interval + 2 s ({ci + 2:g} s), as for an alarm",
                 f"{max(xs):.2f} s over {len(xs)} releases", max(xs) <= ci + 2))
    return rows


def goal_lines(results: dict) -> list[str]:
    return [f"| {g} | {f} | {'yes' if ok else ('not measured' if ok is None else 'no')} |"
            for g, f, ok in goals(results)]


def splice(results: dict, md: Path) -> None:
    """Rewrites the judge's section of an existing report (after the rollback section when it
    has none yet) and the judge's rows of its Goals table, leaving the rest as it was."""
    lines = md.read_text().split("\n")
    new = section(results)

    def heading(i: int) -> bool:
        return lines[i].startswith("## ")

    if TITLE in lines:
        start = lines.index(TITLE)
    else:
        after = next((i for i, l in enumerate(lines) if l == "## Rollback latency"), None)
        start = next((i for i in range((after or 0) + 1, len(lines)) if heading(i)), len(lines))
        lines[start:start] = [TITLE, ""]
    end = next((i for i in range(start + 1, len(lines)) if heading(i)), len(lines))
    lines[start:end] = new
    lines = [l for l in lines if not l.startswith(("| judge: ", "| judge rollback"))]
    if "## Goals" in lines:
        last = g = lines.index("## Goals")
        for i in range(g + 1, len(lines)):
            if heading(i):
                break
            if lines[i].startswith("|"):
                last = i
        lines[last + 1:last + 1] = goal_lines(results)
    md.write_text("\n".join(lines))


if __name__ == "__main__":
    saved = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/benchmarks.md")
    splice({"judge": json.loads(saved.read_text())}, out)
    print(f"wrote the judge's section of {out}")
