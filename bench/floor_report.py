"""The floor comparison and rollback latency sections of docs/benchmarks.md, and the plot of
per-deployment plan cost against N (docs/benchmarks-floor.png)."""

from __future__ import annotations

import statistics
from pathlib import Path

WAYS = ("ecsx", "floor", "terraform_data")
LABEL = {"ecsx": "ecsx", "floor": "floor (no-op provider)", "terraform_data": "terraform_data"}


def med(xs):
    return statistics.median(xs)


def _plans(results: dict) -> dict[int, dict[str, list]]:
    return {int(n): v for n, v in results["floor"]["plans"].items()}


def _secs(runs: list[dict], key: str = "seconds") -> float:
    return med([r[key] for r in runs])


def _span(runs: list[dict], key: str = "seconds") -> str:
    xs = [r[key] for r in runs]
    return f"{med(xs):.2f} s ({min(xs):.2f}–{max(xs):.2f})"


def figures(results: dict) -> dict:
    """Medians per size and way, per deployment, and the ratios the goals are judged on."""
    plans = _plans(results)
    sizes = sorted(plans)
    f: dict = {"sizes": sizes, "wall": {}, "per_dep_ms": {}, "busy": {}, "net": {}}
    for n in sizes:
        f["wall"][n] = {w: _secs(plans[n][w]) for w in WAYS}
        f["per_dep_ms"][n] = {w: 1000 * f["wall"][n][w] / n for w in WAYS}
        f["busy"][n] = _secs(plans[n]["ecsx"], "emulator_busy")
        # ecsx with the time the plan had an AWS call waiting on the emulator taken out: the
        # most the emulator can account for (some of that wait overlaps Terraform's own work).
        f["net"][n] = f["wall"][n]["ecsx"] - f["busy"][n]
    return f


def section(results: dict, png_name: str) -> list[str]:
    out: list[str] = []
    w = out.append
    fl = results["floor"]
    f = figures(results)
    plans = _plans(results)
    sizes = f["sizes"]
    big = sizes[-1]
    w("## Against the floor: Terraform's own price for N plugin resources")
    w("")
    w("`terraform plan -detailed-exitcode` with nothing to change, three ways side by side in one run "
      f"(medians of {fl['runs']} plans per size and way, the order alternating between runs): "
      "*ecsx*, N deployments as in the scale bench ([bench/scale](../bench/scale/main.tf), one per service of "
      "one cluster, sharing one listener, rule and test listener); *floor*, N resources of a provider that does "
      "no work ([bench/floor/main.rs](../bench/floor/main.rs): ecsx's own protocol layer serving one resource with "
      "the schema of `ecsx_canary_deployment`, taken from the provider, so values of the same shape and size cross "
      "the wire; read returns the prior state, plan the proposed one; its state is ecsx's, renamed, with the same "
      "configuration); *terraform_data*, N of Terraform's built-in resource (no plugin process). "
      "*Emulator busy* is the time during which at least one of the ecsx plan's AWS calls was waiting on "
      "the emulator, measured at the proxy (the union of the calls' intervals from sending the request on to the "
      "answer); *ecsx − busy* takes that time out, which is the most the emulator can account for, since part "
      "of the wait overlaps Terraform's own work on other resources.")
    w("")
    w(f"![per-deployment plan cost against N]({png_name})")
    w("")
    w("| N | ecsx | floor | terraform_data | ecsx/floor | emulator busy (ecsx) | ecsx − busy | (ecsx − busy)/floor | AWS calls (ecsx) |")
    w("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        p = plans[n]
        calls = med([sum(r["calls"].values()) for r in p["ecsx"]])
        wall = f["wall"][n]
        w(f"| {n:,} | {_span(p['ecsx'])} | {_span(p['floor'])} | {_span(p['terraform_data'])} | "
          f"**{wall['ecsx'] / wall['floor']:.2f}×** | {f['busy'][n]:.2f} s | {f['net'][n]:.2f} s | "
          f"{f['net'][n] / wall['floor']:.2f}× | {calls:g} |")
    w("")
    w("Per deployment (median wall time / N), and how it grows (each size against N=100):")
    w("")
    w("| N | ecsx | floor | terraform_data | ecsx − busy | ecsx vs N=100 | floor vs N=100 | terraform_data vs N=100 |")
    w("|---|---|---|---|---|---|---|---|")
    ref = f["per_dep_ms"].get(100)
    for n in sizes:
        pd = f["per_dep_ms"][n]
        growth = ["–"] * 3
        if ref:
            growth = [f"{pd[x] / ref[x]:.2f}×" for x in WAYS]
        w(f"| {n:,} | {pd['ecsx']:.1f} ms | {pd['floor']:.1f} ms | {pd['terraform_data']:.2f} ms | "
          f"{1000 * f['net'][n] / n:.1f} ms | {' | '.join(growth)} |")
    w("")

    if fl.get("shape"):
        sh = fl["shape"]
        w(f"All three configurations take their N names as a map (`for_each = var.services`). The same names as "
          f"`for_each = toset(var.services)` of a list cost Terraform itself time that grows with the square of N: "
          f"a plan that creates {big:,} `terraform_data` takes {sh['toset(list)']:.2f} s that way and "
          f"{sh['map']:.2f} s with the map (same run). The scale bench used toset() before (issue 30's 22–42 s "
          f"at N=1,000 were measured that way); that growth is the configuration's price in Terraform, the same "
          "for every provider.")
        w("")
    prof = fl["profile"]
    ecsx_big = plans[big]["ecsx"]
    debug, unpaced = prof["debug"], prof["unpaced"]
    wall = _secs(ecsx_big)
    pcpu = _secs(ecsx_big, "provider_cpu")
    tcpu = med([r["tf_and_provider_cpu"] - r["provider_cpu"] for r in ecsx_big])
    ecpu = _secs(ecsx_big, "emulator_cpu")
    fcpu = _secs(plans[big]["floor"], "tf_and_provider_cpu")
    w(f"### Where ecsx's time goes at N={big:,}")
    w("")
    w(f"The {fl['runs']} ecsx plans above (medians), and three more plans of the same {big:,} deployments: one with "
      "the provider's own pacing off (`ECSX_RATE_LIMIT=off`), one with the shortest coalescing window, one with "
      "its debug log on "
      "(`TF_LOG_PROVIDER=debug`, which slows it a little), whose `aws paced` lines give the time requests waited "
      "for a pacing token and whose `aws call` lines the time each AWS call took as the provider saw it. CPU "
      "times are utime + stime: the provider processes' from /proc (sampled every 20 ms), Terraform's as the "
      "bench's child-process usage minus the provider's, the emulator's from its process; the machine has "
      f"{results['machine'].get('cores', 2)} cores, shared by all three.")
    w("")
    w("| figure | ecsx | floor |")
    w("|---|---|---|")
    w(f"| plan wall time | {wall:.2f} s | {_secs(plans[big]['floor']):.2f} s |")
    w(f"| CPU: Terraform + provider processes | {med([r['tf_and_provider_cpu'] for r in ecsx_big]):.2f} s | {fcpu:.2f} s |")
    floor_big = plans[big]["floor"]
    fp = _secs(floor_big, "provider_cpu") if "provider_cpu" in floor_big[0] else None
    w(f"| CPU: the provider processes seen (sampled) | {pcpu:.2f} s | {'–' if fp is None else f'{fp:.2f} s'} |")
    w(f"| CPU: Terraform (the rest) | {tcpu:.2f} s | {'–' if fp is None else f'{fcpu - fp:.2f} s'} |")
    w(f"| CPU: the emulator (moto, one Python process) | {ecpu:.2f} s | 0 |")
    w(f"| emulator busy: an AWS call of the plan waiting on it | {f['busy'][big]:.2f} s | 0 |")
    answers = med([sum(r["emulator_answer_seconds"].values()) for r in ecsx_big])
    calls = med([sum(r["calls"].values()) for r in ecsx_big])
    w(f"| the emulator's answer times, summed ({calls:g} calls) | {answers:.2f} s | – |")
    slow = {}
    for r in ecsx_big:
        for op, s in r["emulator_answer_seconds"].items():
            slow.setdefault(op, []).append(s / max(r["calls"].get(op, 1), 1))
    for op in sorted(slow):
        w(f"| mean answer time of `{op}` | {1000 * med(slow[op]):.0f} ms | – |")
    w(f"| plan with pacing off (`ECSX_RATE_LIMIT=off`), one plan | {unpaced['seconds']:.2f} s | – |")
    if "window_1ms" in prof:
        wm = prof["window_1ms"]
        w(f"| plan with a 1 ms coalescing window (`ECSX_COALESCE_WINDOW=1ms`, default 15 ms), one plan | "
          f"{wm['seconds']:.2f} s, {sum(wm['calls'].values())} AWS calls, emulator busy {wm['emulator_busy']:.2f} s | – |")
    w(f"| debug-log plan: wall time | {debug['seconds']:.2f} s | – |")
    w(f"| debug-log plan: requests that waited for a pacing token, waiting in all | {debug['paced_requests']}, {debug['paced_seconds']:.2f} s | – |")
    w(f"| debug-log plan: AWS calls as the provider saw them, summed | {debug['aws_calls']}, {debug['aws_call_seconds']:.2f} s | – |")
    w("")
    gap = wall - _secs(plans[big]["floor"])
    lo, hi = min(r["seconds"] for r in ecsx_big), max(r["seconds"] for r in ecsx_big)
    window_text = ""
    if "window_1ms" in prof:
        wm = prof["window_1ms"]
        wcalls = sum(wm["calls"].values())
        if wm["seconds"] < lo:
            window_text = (f"With a 1 ms coalescing window it took {wm['seconds']:.2f} s ({wcalls} AWS calls): "
                           "reads that wait for their batch to close cost that much. ")
        else:
            window_text = (f"The coalescing window pays for itself: with a 1 ms window the plan took "
                           f"{wm['seconds']:.2f} s, with {wcalls} AWS calls instead of {calls:g} and the emulator "
                           f"busy for {wm['emulator_busy']:.2f} s, since smaller batches mean more calls, each "
                           "paying the emulator's cost per call. ")
    w(f"Reading: at N={big:,} ecsx's plan takes {gap:.2f} s more than the floor's. "
      f"For {f['busy'][big]:.2f} s of the ecsx plan an AWS call was waiting on the emulator "
      f"({calls:g} calls; the emulator used {ecpu:.2f} s of CPU, on the same two cores as Terraform). "
      f"The provider processes used {pcpu:.2f} s of CPU in all (decoding, planning, encoding {big:,} deployments). "
      + ("No request waited for a pacing token in the debug-log plan"
         if not debug["paced_requests"] else
         f"{debug['paced_requests']} requests of the debug-log plan waited {debug['paced_seconds']:.2f} s in all "
         "for a pacing token")
      + f"; the one plan with pacing off took {unpaced['seconds']:.2f} s"
      + (" (within the spread of the paced plans)" if lo <= unpaced["seconds"] <= hi else
         f", below the paced plans' {lo:.2f}–{hi:.2f} s: the debug-log plan runs slower than the others, so "
         "pacing may cost the faster plans some time, which one unpaced sample cannot size"
         if unpaced["seconds"] < lo else "") + ". "
      + (window_text if "window_1ms" in prof else "")
      + "A deployment's refresh holds one of Terraform's ten parallel slots for one DescribeServices round "
      "trip (its batch's window plus the answer), which the floor's read does not have, so N of those round "
      "trips add about N/10 of them to the plan's wall time. The emulator's answers also take longer as N "
      "grows, on the same 1,000 services (table below): it shares the two cores with a busier Terraform.")
    w("")
    if 100 in f["per_dep_ms"]:
        small = f["per_dep_ms"][100]
        w(f"Emulator answer times per call, N=100 against N={big:,} (medians of the ecsx plans):")
        w("")
        w("| operation | N=100 | N=" + f"{big:,}" + " |")
        w("|---|---|---|")
        for op in sorted(slow):
            at100 = [r["emulator_answer_seconds"].get(op, 0) / max(r["calls"].get(op, 1), 1) for r in plans[100]["ecsx"]]
            w(f"| `{op}` | {1000 * med(at100):.0f} ms | {1000 * med(slow[op]):.0f} ms |")
        w("")
        _ = small
    return out


def rollback_section(results: dict) -> list[str]:
    out: list[str] = []
    w = out.append
    rb = results["rollback"]
    ci = rb["check_interval"]
    w("## Rollback latency")
    w("")
    w(f"One deployment ([bench/rollback](../bench/rollback/main.tf)) with an `analysis` alarm read every "
      f"`check_interval = \"{ci:g}s\"`. *Alarm*: a release walks to step 1 (10% on the canary) and bakes; at a "
      f"random moment of the bake (uniform over two check intervals from when the routers first show 10%), the "
      "bench sets the alarm to ALARM in the emulator. *Abort action*: a release held at an approval gate with 10% "
      "on the canary; the bench starts `terraform apply -invoke=action.ecsx_canary_abort.web`. Times are from the "
      "flip (the moment before the bench's SetAlarmState call, or before it starts Terraform) to, from the "
      "proxy's timestamped log of the provider's calls: the first DescribeAlarms answer after the flip (the "
      "alarm seen), the last ModifyRule / ModifyListener answer (stable weights written), the last "
      "DescribeRules / DescribeListeners answer after it (**read back**, what the goal is about); and when the "
      "bench, polling the emulator every 20 ms, saw all three routers with all traffic on the stable target group. "
      f"{len(rb['alarm'])} runs of each.")
    w("")
    w("| trigger | first AWS call | alarm seen | stable weights written | **read back** (median) | read back, 90th percentile | read back, worst | emulator shows it | goal |")
    w("|---|---|---|---|---|---|---|---|---|")
    for kind, name in (("alarm", "alarm into ALARM mid-bake"), ("abort", "`ecsx_canary_abort` action")):
        rows = rb[kind]
        def col(key):
            xs = [r[key] for r in rows if r.get(key) is not None]
            return f"{med(xs):.2f} s" if xs else "–"
        rbk = sorted(r["read_back"] for r in rows)
        p90 = rbk[min(len(rbk) - 1, int(round(0.9 * (len(rbk) - 1))))]
        goal = (f"median ≤ {ci / 2 + 1:g} s, worst ≤ {ci + 2:g} s" if kind == "alarm" else "–")
        w(f"| {name} | {col('first_call')} | {col('alarm_seen') if kind == 'alarm' else '–'} | {col('written')} | "
          f"**{med(rbk):.2f} s** | {p90:.2f} s | {max(rbk):.2f} s | {col('observed')} | {goal} |")
    w("")
    return out


def goals(results: dict) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    if "floor" in results:
        f = figures(results)
        big = f["sizes"][-1]
        pd = f["per_dep_ms"]
        if 100 in pd and big >= 1000:
            g = pd[big]["ecsx"] / pd[100]["ecsx"]
            rows.append(("per-deployment plan cost at N=1,000 within 1.2× of that at N=100",
                         f"{pd[big]['ecsx']:.1f} ms vs {pd[100]['ecsx']:.1f} ms ({g:.2f}×); the floor's "
                         f"{pd[big]['floor'] / pd[100]['floor']:.2f}×", g <= 1.2))
            r = f["wall"][big]["ecsx"] / f["wall"][big]["floor"]
            rn = f["net"][big] / f["wall"][big]["floor"]
            rows.append(("ecsx within 1.5× of the no-op floor at N=1,000",
                         f"{f['wall'][big]['ecsx']:.2f} s vs {f['wall'][big]['floor']:.2f} s ({r:.2f}×; "
                         f"{rn:.2f}× without the emulator's busy time)", r <= 1.5))
    if "rollback" in results:
        rb = results["rollback"]
        ci = rb["check_interval"]
        xs = [r["read_back"] for r in rb["alarm"]]
        rows.append((f"alarm rollback: median at most check_interval/2 + 1 s ({ci / 2 + 1:g} s)",
                     f"{med(xs):.2f} s", med(xs) <= ci / 2 + 1))
        rows.append((f"alarm rollback: worst at most check_interval + 2 s ({ci + 2:g} s)",
                     f"{max(xs):.2f} s over {len(xs)} flips", max(xs) <= ci + 2))
    return rows


def plot(results: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = figures(results)
    sizes = f["sizes"]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    style = {"ecsx": ("o-", "#0571b0"), "floor": ("s-", "#ca0020"), "terraform_data": ("^-", "#4d9221")}
    for way in WAYS:
        ys = [f["per_dep_ms"][n][way] for n in sizes]
        fmt, colour = style[way]
        ax.plot(sizes, ys, fmt, color=colour, label=LABEL[way])
        for n, y in zip(sizes, ys):
            ax.annotate(f"{y:.1f}", (n, y), textcoords="offset points", xytext=(0, 6), fontsize=7,
                        ha="center", color=colour)
    ax.plot(sizes, [1000 * f["net"][n] / n for n in sizes], "o--", color="#92c5de",
            label="ecsx − emulator busy time")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{n:,}" for n in sizes])
    ax.set_xlabel("resources in the plan (N)")
    ax.set_ylabel("plan wall time per resource, ms (median)")
    ax.set_title("terraform plan, nothing to change: cost per resource against N")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
