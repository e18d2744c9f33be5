"""Turns bench/run.py's raw results into docs/benchmarks.md and docs/benchmarks.png.

Also runnable on its own to redo the report from saved numbers:
    python bench/report.py target/bench/results.json [docs/]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import floor_report  # noqa: E402
import judge_report  # noqa: E402
import scale_report  # noqa: E402

# The plot of per-deployment plan cost against N, beside benchmarks.png.
FLOOR_PNG = "benchmarks-floor.png"

STEPS = ("bootstrap", "canary 10%", "canary 50%", "promote")

# Why ecsx reads more than the script, per operation; used where ecsx makes more calls.
WHY_MORE = {
    "ecs.DescribeServices": (
        "every plan refreshes the deployment (the service with its task sets: which one is "
        "PRIMARY, their scale and stability); the plan's own check that the service takes task "
        "sets and has room for new ones (ECS allows five) reuses that read; Terraform's re-plan "
        "at the start of apply, a process of its own, reads the service once, and the apply "
        "starts from that read"
    ),
    "ecs.DescribeTaskSets": (
        "a plan or apply that creates the deployment looks for task sets an interrupted create "
        "left (with their tags); the waits poll the same way the script's loop does. A refresh "
        "reads the task sets' tags only when the service has a task set the state does not "
        "record, which a normal release never has"
    ),
    "elbv2.DescribeListeners": (
        "read at every refresh, so weights changed by hand show in the plan (the plan's check "
        "that the routers forward only to the deployment's target groups reuses that read); "
        "Terraform's re-plan at the start of apply reads them once, and the apply starts from "
        "that read; a shift reads them right before writing unless the last read is under a "
        "second old with no write since, and after writing until they read back the new "
        "weights (ELBv2 may show the old ones for a moment)"
    ),
    "elbv2.DescribeRules": "rules are read at the same points as listeners, for the same reasons",
}
WHY_FEWER = {
    "ecs.DescribeTaskSets": "how many polls a wait takes depends on where in the poll interval the task set turns steady",
    "elbv2.ModifyListener": "ecsx rewrites a listener only when its weights differ from the plan; the script rewrites every listener on every traffic change",
    "elbv2.ModifyRule": "the same for rules",
}


# --------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------


def med(xs):
    return statistics.median(xs)


def span(xs, unit: str = "s", digits: int = 2) -> str:
    m, lo, hi = med(xs), min(xs), max(xs)
    if unit == "ms":
        return f"{m:.{digits}f} ms ({lo:.{digits}f}–{hi:.{digits}f})"
    if unit == "calls":
        m = f"{m:g}"
        return m if lo == hi else f"{m} ({lo:g}–{hi:g})"
    if unit in ("%", ""):
        return f"{m:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"
    return f"{m:.{digits}f} s ({lo:.{digits}f}–{hi:.{digits}f})"


def ratio(a: float, b: float) -> str:
    """ecsx/baseline."""
    if b == 0:
        return "—" if a == 0 else "∞"
    return f"{a / b:.2f}×"


def step_series(runs: list[list[dict]], step: int, key: str) -> list[float]:
    if key == "total_s":
        return [r[step]["plan_s"] + r[step]["apply_s"] for r in runs]
    if key == "all_calls":
        return [sum(r[step]["plan_calls"].values()) + sum(r[step]["apply_calls"].values()) for r in runs]
    if key.endswith("_calls"):
        return [sum(r[step][key].values()) for r in runs]
    return [r[step][key] for r in runs]


def release_series(runs: list[list[dict]], key: str) -> list[float]:
    return [sum(step_series([r], i, key)[0] for i in range(len(STEPS))) for r in runs]


def operations(runs: list[list[dict]]) -> dict[str, float]:
    """Median calls per operation over a whole release."""
    per_run = []
    for r in runs:
        counts: dict[str, int] = {}
        for step in r:
            for phase in ("plan_calls", "apply_calls"):
                for op, n in step[phase].items():
                    counts[op] = counts.get(op, 0) + n
        per_run.append(counts)
    ops = sorted({op for c in per_run for op in c})
    return {op: med([c.get(op, 0) for c in per_run]) for op in ops}


def marginals(sizes: list[int], times: dict[int, float]) -> dict[tuple[int, int], float]:
    """Seconds one more deployment adds, between consecutive sizes."""
    return {(lo, hi): (times[hi] - times[lo]) / (hi - lo) for lo, hi in zip(sizes, sizes[1:])}


def is_linear(marg: dict[tuple[int, int], float]) -> bool:
    """Linear or better: one more deployment costs no more in the last interval than in the
    one before (20% allowance for noise). The first interval is mostly fixed cost and noise."""
    steps = list(marg.values())
    return len(steps) < 2 or steps[-1] <= 1.2 * max(steps[-2], 1e-9)


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------


def summary(results: dict) -> dict:
    """The headline figures, also used for the README."""
    b, e = results["walks"]["baseline"], results["walks"]["ecsx"]
    refresh = {int(n): s for n, s in results["refresh"].items()}
    sizes = sorted(refresh)
    big = sizes[-1]
    per_dep = {n: med([sum(x["calls"].values()) for x in refresh[n]]) / n for n in sizes}
    times = {n: med([x["plan_s"] for x in refresh[n]]) for n in sizes}
    local = {n: med([x.get("plan_no_refresh_s", 0.0) for x in refresh[n]]) for n in sizes}
    marg = marginals(sizes, times)
    refresh_marg = marginals(sizes, {n: times[n] - local[n] for n in sizes})
    local_marg = marginals(sizes, local)
    return {
        "release_baseline": med(release_series(b, "total_s")),
        "release_ecsx": med(release_series(e, "total_s")),
        "release_calls_baseline": med(release_series(b, "all_calls")),
        "release_calls_ecsx": med(release_series(e, "all_calls")),
        "apply_faster_every_step": all(
            med(step_series(e, i, "apply_s")) < med(step_series(b, i, "apply_s")) for i in range(len(STEPS))
        ),
        "total_faster_every_step": all(
            med(step_series(e, i, "total_s")) < med(step_series(b, i, "total_s")) for i in range(len(STEPS))
        ),
        "plan_faster_every_step": all(
            med(step_series(e, i, "plan_s")) < med(step_series(b, i, "plan_s")) for i in range(len(STEPS))
        ),
        "calls_per_deployment": per_dep,
        "plan_times": times,
        "marginal": marg,
        "linear": is_linear(marg),
        "refresh_marginal": refresh_marg,
        "refresh_linear": is_linear(refresh_marg),
        "local_marginal": local_marg,
        "local_linear": is_linear(local_marg),
        "big": big,
        "peak_rss_mb": max(x["peak_rss_kb"] for x in refresh[big]) / 1024,
        "peak_rss_runs_mb": [x["peak_rss_kb"] / 1024 for x in refresh[big]],
        "handshake_ms": med(results["handshake_ms"]),
        "binary_mb": results["binary_bytes"] / 1e6,
    }


def markdown(results: dict, png_name: str) -> str:
    b, e = results["walks"]["baseline"], results["walks"]["ecsx"]
    s = summary(results)
    m = results["machine"]
    cfg = results["settings"]
    refresh = {int(n): v for n, v in results["refresh"].items()}
    sizes = sorted(refresh)
    out: list[str] = []
    w = out.append

    w("# Benchmarks")
    w("")
    w("Generated by `make bench` (bench/run.py); do not edit by hand. Everything runs against the "
      "local AWS emulator (tests/rig/emulator.py) through the call-counting proxy "
      "(tests/rig/proxy.py), with the release build of the provider and real Terraform.")
    w("")
    w(f"Machine: {m['cpu']}, {m['cores']} cores, load average {m['load_at_start'][0]:.1f} at the start and "
      f"{m.get('load_at_end', m['load_at_start'])[1]:.1f} over the last five minutes (other work on the machine "
      "shows in the spread of the runs); "
      f"{m['terraform']}; {m['aws_cli']}; {m['date']}. "
      f"Every task set takes {cfg['stabilize_seconds']:g} s to reach STEADY_STATE and "
      f"{cfg['drain_seconds']:g} s to drain; both sides poll every {cfg['poll_seconds']} s "
      f"(`ECSX_POLL_INTERVAL={cfg['poll_seconds']}s`, `sleep {cfg['poll_seconds']}` in the script). "
      f"Figures are medians of {cfg['runs']} runs (refresh: {cfg['refresh_runs']}, "
      f"{cfg['big_runs']} for {sizes[-1]} deployments) with (min–max).")
    w("")
    w(f"![per-step wall time and refresh time]({png_name})")
    w("")

    w("## The same canary release, two ways")
    w("")
    w("*Baseline*: [bench/baseline](../bench/baseline/main.tf), `terraform_data` + `local-exec` running "
      "the AWS CLI the way the seed articles do it: `create-task-set`, a shell loop polling "
      "`describe-task-sets` until STEADY_STATE, `update-service-primary-task-set`, `modify-listener` / "
      "`modify-rule` for the weights, `delete-task-set`. *ecsx*: [bench/ecsx](../bench/ecsx/main.tf), "
      "one `ecsx_canary_deployment`. Both manage the same production listener, listener rule and test "
      "listener, and both end with the new version PRIMARY alone at 100/0 (checked after every run). "
      "Plan is `terraform plan -out`; apply is `terraform apply` of that plan.")
    w("")
    w("Wall time:")
    w("")
    w("| step | plan, baseline | plan, ecsx | ecsx/baseline | apply, baseline | apply, ecsx | ecsx/baseline | plan+apply, baseline | plan+apply, ecsx | ecsx/baseline |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for i, step in enumerate(STEPS):
        cells = [step]
        for key in ("plan_s", "apply_s", "total_s"):
            bs, es = step_series(b, i, key), step_series(e, i, key)
            cells += [span(bs), span(es), ratio(med(es), med(bs))]
        w("| " + " | ".join(cells) + " |")
    cells = ["**whole release**"]
    for key in ("plan_s", "apply_s", "total_s"):
        bs, es = release_series(b, key), release_series(e, key)
        cells += [span(bs), span(es), f"**{ratio(med(es), med(bs))}**"]
    w("| " + " | ".join(cells) + " |")
    w("")
    w("AWS API calls (counted at the proxy):")
    w("")
    w("| step | plan, baseline | plan, ecsx | apply, baseline | apply, ecsx | total, baseline | total, ecsx | ecsx/baseline |")
    w("|---|---|---|---|---|---|---|---|")
    for i, step in enumerate(STEPS):
        cells = [step]
        for key in ("plan_calls", "apply_calls"):
            cells += [span(step_series(b, i, key), "calls"), span(step_series(e, i, key), "calls")]
        bs, es = step_series(b, i, "all_calls"), step_series(e, i, "all_calls")
        cells += [span(bs, "calls"), span(es, "calls"), ratio(med(es), med(bs))]
        w("| " + " | ".join(cells) + " |")
    bs, es = release_series(b, "all_calls"), release_series(e, "all_calls")
    w(f"| **whole release** | | | | | {span(bs, 'calls')} | {span(es, 'calls')} | **{ratio(med(es), med(bs))}** |")
    w("")
    ob, oe = operations(b), operations(e)
    w("Calls per operation over the whole release (median run):")
    w("")
    w("| operation | baseline | ecsx | ecsx − baseline |")
    w("|---|---|---|---|")
    for op in sorted(set(ob) | set(oe)):
        d = oe.get(op, 0) - ob.get(op, 0)
        w(f"| `{op}` | {ob.get(op, 0):g} | {oe.get(op, 0):g} | {d:+g} |")
    w("")

    w("## Promotion: time and capacity")
    w("")
    w("The promote step of the walk above (canary at 50% and full scale, then the canary's version "
      "becomes the stable one) with each promotion. Peak tasks: the most tasks running or pending on "
      "the service at any 50 ms sample of the apply, DRAINING task sets included (their tasks run "
      "until drained), as a share of its desired count; peak task sets counts DRAINING ones too "
      "(ECS allows five).")
    w("")
    w("| promotion | promote apply | peak tasks (% of desired) | peak task sets |")
    w("|---|---|---|---|")
    last = len(STEPS) - 1
    for method, label in (("baseline", "baseline script (new PRIMARY on blue)"),
                          ("ecsx", "ecsx `swap` (default)"), ("ecsx-replace", "ecsx `replace`")):
        walks = results["walks"].get(method) or []
        if not walks:
            continue
        w(f"| {label} | {span(step_series(walks, last, 'apply_s'))} | "
          f"{span(step_series(walks, last, 'peak_task_percent'), '%', 0)} | "
          f"{span(step_series(walks, last, 'peak_task_sets'), '', 0)} |")
    w("")

    w("## Refresh cost")
    w("")
    w("`terraform plan` with nothing to change, N deployments (one per service; "
      "[bench/refresh](../bench/refresh/main.tf)), each managing a listener, a listener rule and a "
      "test listener.")
    w("")
    w("| deployments | plan wall time | per deployment | AWS calls | calls per deployment | plan -refresh=false | refresh share (difference) |")
    w("|---|---|---|---|---|---|---|")
    for n in sizes:
        ts = [x["plan_s"] for x in refresh[n]]
        calls = [sum(x["calls"].values()) for x in refresh[n]]
        local = [x.get("plan_no_refresh_s", 0.0) for x in refresh[n]]
        w(f"| {n} | {span(ts)} | {med(ts) / n * 1000:.1f} ms | {span(calls, 'calls')} | "
          f"{med(calls) / n:g} | {span(local)} | {med(ts) - med(local):.2f} s |")
    w("")
    w("Time one more deployment adds (difference of medians between consecutive sizes, per deployment):")
    w("")
    w("| interval | plan | refresh share | plan -refresh=false |")
    w("|---|---|---|---|")
    for key in s["marginal"]:
        w(f"| {key[0]}→{key[1]} | {s['marginal'][key] * 1000:.1f} ms | "
          f"{s['refresh_marginal'][key] * 1000:.1f} ms | {s['local_marginal'][key] * 1000:.1f} ms |")
    w("")
    big_ops = refresh[sizes[-1]][0]["calls"]
    w(f"Calls of one {sizes[-1]}-deployment plan: " + ", ".join(f"`{k}` {v}" for k, v in sorted(big_ops.items())) + ".")
    w("")

    w("## The provider itself")
    w("")
    w("| figure | value |")
    w("|---|---|")
    w(f"| process start to handshake line (release build, {len(results['handshake_ms'])} starts) | {span(results['handshake_ms'], 'ms', 1)} |")
    rss = s["peak_rss_runs_mb"]
    w(f"| peak RSS of the provider during a {sizes[-1]}-deployment plan (VmHWM) | {med(rss):.1f} MB ({min(rss):.1f}–{max(rss):.1f}) |")
    w(f"| release binary, stripped (`lto = true`, `codegen-units = 1`, `strip = true`) | {results['binary_bytes'] / 1e6:.2f} MB ({results['binary_bytes']:,} bytes) |")
    w("")

    if "floor" in results:
        out.extend(floor_report.section(results, FLOOR_PNG))
    if "rollback" in results:
        out.extend(floor_report.rollback_section(results))
    if "judge" in results:
        out.extend(judge_report.section(results))
    if "scale" in results:
        out.extend(scale_report.section(results))
        out.extend(scale_report.startup(results))
        out.extend(scale_report.goals(results, s))

    w("## Reading")
    w("")
    rel_b, rel_e = s["release_baseline"], s["release_ecsx"]
    w(f"- **Whole release**: {rel_e:.1f} s with ecsx against {rel_b:.1f} s for the script "
      f"({ratio(rel_e, rel_b)}), with {s['release_calls_ecsx']:g} AWS calls against {s['release_calls_baseline']:g}.")
    slower_total = [STEPS[i] for i in range(len(STEPS)) if med(step_series(e, i, "total_s")) >= med(step_series(b, i, "total_s"))]
    slower_apply = [STEPS[i] for i in range(len(STEPS)) if med(step_series(e, i, "apply_s")) >= med(step_series(b, i, "apply_s"))]
    slower_plan = [STEPS[i] for i in range(len(STEPS)) if med(step_series(e, i, "plan_s")) >= med(step_series(b, i, "plan_s"))]
    if not slower_total:
        w("- **Every step is faster with ecsx** (plan + apply)" + (
            ", and so is every apply." if not slower_apply else f"; apply is not faster for: {', '.join(slower_apply)}."))
    else:
        w(f"- ecsx is **not** faster (plan + apply) for: {', '.join(slower_total)}.")
    # The traffic-only step has no waits: its apply is Terraform plus the CLI calls.
    i = STEPS.index("canary 50%")
    per_call = (med(step_series(b, i, "apply_s")) - med(step_series(b, i, "plan_s"))) / max(med(step_series(b, i, "apply_calls")), 1)
    w(f"- Where the time goes in the script: every AWS CLI call starts a Python interpreter and loads "
      f"botocore's service models, about {per_call:.1f} s per call here (the canary 50% apply: "
      f"{med(step_series(b, i, 'apply_calls')):g} calls, no waits), far more than the call itself; "
      "and a traffic change rewrites all three routers even when one would do.")
    if slower_plan:
        w(f"- **Plan is slower with ecsx** ({', '.join(slower_plan)}): the script's `terraform_data` "
          "reads nothing from AWS, so its plan is free but blind (a weight changed by hand, a deleted "
          "canary or a lost PRIMARY never shows), while ecsx starts its provider, refreshes the "
          "deployment (three reads: the service, its listeners, its rules) and, when something is "
          "to change, checks the service and the routers the apply will touch on those reads "
          f"(up to {max(max(step_series(e, i, 'plan_calls')) for i in range(len(STEPS))):g} calls "
          "per plan here), to show the real traffic split and the rollout steps before apply. "
          "Terraform also starts the provider process three times per plan (schema, validation, "
          "the plan itself), each start paying the handshake below.")
    more = {op: oe.get(op, 0) - ob.get(op, 0) for op in set(ob) | set(oe) if oe.get(op, 0) > ob.get(op, 0)}
    if more:
        reads = all(op.split(".")[1].startswith(("Describe", "List", "Get")) for op in more)
        w("- **Where ecsx makes more AWS calls than the script**" + (", all of them reads:" if reads else ":"))
        for op in sorted(more):
            w(f"  - `{op}` (+{more[op]:g}): {WHY_MORE.get(op, 'see the provider source')}.")
    fewer = {op: ob.get(op, 0) - oe.get(op, 0) for op in set(ob) | set(oe) if ob.get(op, 0) > oe.get(op, 0)}
    if fewer:
        w("- Where it makes fewer: " + "; ".join(
            f"`{op}` (−{fewer[op]:g})" + (f": {WHY_FEWER[op]}" if op in WHY_FEWER else "")
            for op in sorted(fewer)) + ".")
    per_dep = s["calls_per_deployment"]
    worst = max(per_dep.values())
    w(f"- **Refresh**: {worst:g} AWS calls per deployment per refresh at most (target: at most 4"
      f"{'; met' if worst <= 4 else '; NOT met'}): DescribeServices, DescribeListeners "
      "and DescribeRules, one each, however many listeners and rules a deployment manages, and "
      "DescribeTaskSets only for a service with a task set the state does not record. The "
      "deployments here share one listener, one rule and one test listener and one cluster, so "
      "one coalesced call serves several of them and the count per deployment falls as they "
      "grow (the scale section compares it with coalescing off).")
    def grows(linear: bool) -> str:
        return "grows no faster than linearly" if linear else "grows faster than linearly"

    def last_two(marg: dict) -> str:
        keys = list(marg)[-2:]
        return " then ".join(f"{marg[k] * 1000:.1f} ms ({k[0]}→{k[1]})" for k in keys)

    w(f"- **Plan time {grows(s['linear'])}** with the number of deployments: one more deployment "
      f"adds {last_two(s['marginal'])}. The refresh share (plan minus the same plan with "
      f"`-refresh=false`: each deployment's AWS reads, three at most, through the proxy and the emulator) "
      f"{grows(s['refresh_linear'])}: {last_two(s['refresh_marginal'])}; the rest (Terraform core, "
      f"the plugin transport and the provider's planning, no AWS call) {grows(s['local_linear'])}: "
      f"{last_two(s['local_marginal'])}. Terraform works on ten resources at a time "
      "(`-parallelism=10`) and the emulator serialises ECS requests, on a shared 2-core machine, so "
      "the absolute figures say more about this rig than about AWS; the per-deployment call count "
      "is what carries over.")
    w(f"- **The provider**: {s['handshake_ms']:.1f} ms from start to handshake line, "
      f"{s['peak_rss_mb']:.1f} MB peak RSS while refreshing {s['big']} deployments, "
      f"a {s['binary_mb']:.1f} MB binary.")
    w("")
    return "\n".join(out)


# --------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------


def plot(results: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b, e = results["walks"]["baseline"], results["walks"]["ecsx"]
    refresh = {int(n): v for n, v in results["refresh"].items()}
    sizes = sorted(refresh)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})

    width = 0.38
    highest = 0.0
    colours = {"baseline": ("#f4a582", "#ca0020"), "ecsx": ("#92c5de", "#0571b0")}
    for k, (name, runs) in enumerate((("baseline", b), ("ecsx", e))):
        xs = [i + (k - 0.5) * width for i in range(len(STEPS))]
        plans = [med(step_series(runs, i, "plan_s")) for i in range(len(STEPS))]
        applies = [med(step_series(runs, i, "apply_s")) for i in range(len(STEPS))]
        totals = [step_series(runs, i, "total_s") for i in range(len(STEPS))]
        light, dark = colours[name]
        left.bar(xs, plans, width, color=light, edgecolor=dark, label=f"{name}: plan")
        left.bar(xs, applies, width, bottom=plans, color=dark, label=f"{name}: apply")
        tops = [p + a for p, a in zip(plans, applies)]
        left.errorbar(
            xs, [med(t) for t in totals],
            yerr=[[med(t) - min(t) for t in totals], [max(t) - med(t) for t in totals]],
            fmt="none", ecolor="black", capsize=3, linewidth=1,
        )
        for x, top, t in zip(xs, tops, totals):
            left.text(x, max(max(t), top), f"{top:.1f} s\n", ha="center", va="bottom", fontsize=8)
        highest = max(highest, max(max(t) for t in totals))
    left.set_xticks(range(len(STEPS)))
    left.set_xticklabels(STEPS)
    left.set_ylabel("wall time, s (median; bars: min–max of plan+apply)")
    left.set_title("Canary release, per step: script baseline vs ecsx")
    left.set_ylim(0, highest * 1.35)
    left.legend(fontsize=8, loc="upper center", ncol=2)
    left.grid(axis="y", alpha=0.3)

    meds = [med([x["plan_s"] for x in refresh[n]]) for n in sizes]
    lows = [m - min(x["plan_s"] for x in refresh[n]) for m, n in zip(meds, sizes)]
    highs = [max(x["plan_s"] for x in refresh[n]) - m for m, n in zip(meds, sizes)]
    right.errorbar(sizes, meds, yerr=[lows, highs], fmt="o-", color="#0571b0", capsize=3, label="terraform plan (median, min–max)")
    if len(sizes) > 1:
        a, slope = linear_fit([float(n) for n in sizes], meds)
        xs = [0, sizes[-1]]
        right.plot(xs, [a + slope * x for x in xs], "--", color="grey", linewidth=1,
                   label=f"linear fit: {a:.2f} s + {slope * 1000:.1f} ms × N")
    per = sorted({med([sum(x["calls"].values()) for x in refresh[n]]) / n for n in sizes})
    for k, (n, m) in enumerate(zip(sizes, meds)):
        below = k == 0
        right.annotate(f"{m:.2f} s", (n, m), textcoords="offset points",
                       xytext=(4 if below else 0, -14 if below else 9), fontsize=8,
                       ha="left" if below else ("right" if n == sizes[-1] else "center"))
    right.text(0.98, 0.04, f"AWS calls per deployment per refresh: {', '.join(f'{p:g}' for p in per)}",
               transform=right.transAxes, ha="right", fontsize=8)
    right.set_xlabel("deployments (N)")
    right.set_ylabel("plan wall time, s")
    right.set_title("Refresh cost: terraform plan vs deployments")
    right.set_xlim(0, sizes[-1] * 1.08)
    right.set_ylim(0, max(m + h for m, h in zip(meds, highs)) * 1.3)
    right.legend(fontsize=8, loc="upper left")
    right.grid(alpha=0.3)

    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write(results: dict, md: Path, png: Path) -> None:
    md.write_text(markdown(results, png.name))
    plot(results, png)
    if "floor" in results:
        floor_report.plot(results, png.with_name(FLOOR_PNG))


if __name__ == "__main__":
    raw = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("target/bench/results.json")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs")
    write(json.loads(raw.read_text()), out / "benchmarks.md", out / "benchmarks.png")
    print(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.png'}")
