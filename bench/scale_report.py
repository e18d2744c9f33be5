"""The scale section of docs/benchmarks.md (bench/scale.py's numbers) and the issue-14 goals."""

from __future__ import annotations

import statistics

import floor_report
import judge_report

MODES = ("coalesced", "uncoalesced", "coalesced, AWS limits", "uncoalesced, AWS limits",
         "coalesced, AWS limits, unpaced")


def med(xs):
    return statistics.median(xs)


def _per(results: dict) -> dict[int, dict[str, list]]:
    return {int(n): v for n, v in results["scale"]["refresh"].items()}


def fig(per: dict, n: int, mode: str, key: str) -> float:
    return med([x[key] for x in per[n][mode]])


def section(results: dict) -> list[str]:
    sc = results["scale"]
    per = _per(results)
    sizes = sorted(per)
    runs = results["settings"].get("scale_runs", 1)
    out: list[str] = []
    w = out.append
    w("## Scale: coalesced reads and AWS-like rate limits")
    w("")
    w("`terraform plan -detailed-exitcode` with nothing to change, N deployments (one per service of one "
      "cluster, [bench/scale](../bench/scale/main.tf)), five ways side by side, alternating the order between "
      f"runs ({runs} run(s) per size and way): coalesced reads and pacing on (the default) or both off, the way 0.1.0 read "
      "(`ECSX_COALESCE=off ECSX_RATE_LIMIT=off`; *uncoalesced* below), "
      "and without limits or with AWS-like rate limits enforced by the counting proxy; the fifth way is "
      "coalesced under the limits with the provider's own pacing (src/aws/pace.rs) off (`ECSX_RATE_LIMIT=off`). "
      "*Calls* are the requests the proxy received, SDK retries included; *throttled* are those the proxy's "
      "token buckets answered with a throttling error (ThrottlingException / Throttling, as AWS does); "
      "*retries* are requests whose `amz-sdk-request` header says attempt > 1. A plan *fails* when Terraform "
      "exits with an error (the provider retries a throttled call up to 25 times).")
    w("")
    w("Rate limits (tests/rig/proxy.py `AWS_LIMITS`, token buckets per account and region as AWS documents "
      "them): ECS, \"Request throttling for the Amazon ECS API\": a bucket of 50 tokens refilled at 20 per "
      "second, one per ECS operation (the page's example: cluster read actions such as DescribeClusters have "
      "a bucket of 50); ELBv2, \"Request throttling for the Elastic Load Balancing API\": all non-mutating "
      "actions (`Describe*`) share one bucket of 40 tokens refilled at 10 per second; mutating ELBv2 "
      "actions share a bucket of 20 refilled at 5 per second (an assumption: smaller than the read bucket). "
      "Each measurement starts with full buckets and nothing else in the account spending them, so real "
      "accounts, where other tools share the buckets, throttle sooner.")
    w("")
    w("The provider paces its own requests (src/aws/pace.rs, on by default): a token bucket per ECS "
      "action of 40 refilled at 16 per second, 30 at 8 per second shared by the ELBv2 `Describe*` "
      "actions, 15 at 4 per second for the other ELBv2 actions; each request waits for a token before "
      "it is sent, retries and coalesced calls included.")
    w("")
    w("All N deployments share one listener, one rule and one test listener (tests/rig/infra.py makes one "
      "of each), so a coalesced DescribeListeners or DescribeRules names the same ARNs for every caller it "
      "serves; with routers of their own, a call carries up to 20 ARNs (at least 6 deployments with one "
      "listener, one rule and one test listener each).")
    w("")
    w("| deployments | way | plan wall time | AWS calls | calls per deployment | throttled | SDK retries | failed plans |")
    w("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for mode in MODES:
            xs = per[n][mode]
            failed = sum(1 for x in xs if x["failed"])
            w(f"| {n} | {mode} | {fig(per, n, mode, 'seconds'):.2f} s | {fig(per, n, mode, 'total'):g} | "
              f"{fig(per, n, mode, 'total') / n:.2f} | {fig(per, n, mode, 'throttled'):g} | "
              f"{fig(per, n, mode, 'retries'):g} | {failed}/{len(xs)} |")
    w("")
    w("Ratios in the same run (coalesced / uncoalesced):")
    w("")
    w("| deployments | plan time, no limits | plan time, AWS limits | calls, no limits | throttled, AWS limits |")
    w("|---|---|---|---|---|")
    for n in sizes:
        def r(key, a, b):
            x, y = fig(per, n, a, key), fig(per, n, b, key)
            return f"{x / y:.2f}×" if y else "–"
        thr_u = fig(per, n, "uncoalesced, AWS limits", "throttled")
        thr_c = fig(per, n, "coalesced, AWS limits", "throttled")
        thr = f"{thr_c:g} vs {thr_u:g}" + (f" ({thr_u / thr_c:.1f}× fewer)" if thr_c else "")
        w(f"| {n} | {r('seconds', 'coalesced', 'uncoalesced')} | "
          f"{r('seconds', 'coalesced, AWS limits', 'uncoalesced, AWS limits')} | "
          f"{r('total', 'coalesced', 'uncoalesced')} | {thr} |")
    w("")
    big = sizes[-1]
    ops = per[big]["coalesced"][0]["calls"]
    ops_off = per[big]["uncoalesced"][0]["calls"]
    w(f"Calls of one {big}-deployment plan, coalesced: " + ", ".join(f"`{k}` {v}" for k, v in sorted(ops.items()))
      + "; uncoalesced: " + ", ".join(f"`{k}` {v}" for k, v in sorted(ops_off.items())) + ".")
    w("")
    rss = [x["peak_rss_kb"] / 1024 for x in per[big]["coalesced"] + per[big]["uncoalesced"] if x["peak_rss_kb"]]
    if rss:
        w(f"Peak RSS of the provider during the {big}-deployment plans (VmHWM, every way): "
          f"{max(rss):.1f} MB at most.")
        w("")
    if sc.get("apply"):
        w(f"One `terraform apply` that moves {50} canaries one step (a new canary task set each, "
          "steady, then 90/10 on the shared routers) under the AWS limits, task sets steady at once:")
        w("")
        w("| way | apply wall time | AWS calls | throttled | SDK retries | failed |")
        w("|---|---|---|---|---|---|")
        for mode, x in sc["apply"].items():
            w(f"| {mode}, AWS limits | {x['seconds']:.1f} s | {x['total']} | {x['throttled']} | {x['retries']} | "
              f"{'yes' if x['failed'] else 'no'} |")
        w("")
    return out


def startup(results: dict) -> list[str]:
    st = results.get("startup")
    if not st:
        return []
    out: list[str] = []
    w = out.append
    w("## Where the start-up time goes")
    w("")
    w("The provider writes the handshake line before it starts the async runtime and before it builds "
      "the TLS server configuration: both are needed only to serve, and the listening socket queues "
      "Terraform's connection until then. `ECSX_STARTUP_TRACE=1` prints the milliseconds since `main()` "
      f"at the end of each phase (medians of {len(st['version_ms'])} starts); `--version` (start, print "
      "one line, exit) is what a process start of this binary costs at least, measured the same way as "
      "the handshake (from spawning to the process's answer).")
    w("")
    w("| phase, ms since main() | median |")
    w("|---|---|")
    for k, v in st["phases_ms"].items():
        w(f"| {k} | {v:.2f} ms |")
    w(f"| `--version`, spawn to exit | {med(st['version_ms']):.1f} ms |")
    w(f"| handshake line, spawn to line (the figure above) | {med(results['handshake_ms']):.1f} ms |")
    w("")
    return out


def goals(results: dict, s: dict) -> list[str]:
    """The scale goals, each met or not, with the figure it was judged on."""
    out: list[str] = []
    w = out.append
    w("## Goals")
    w("")
    w("| goal | figure | met |")
    w("|---|---|---|")

    def row(goal: str, figure: str, ok: bool | None) -> None:
        w(f"| {goal} | {figure} | {'yes' if ok else ('not measured' if ok is None else 'no')} |")

    per = _per(results) if "scale" in results else {}
    why: list[str] = []
    if 100 in per:
        c = fig(per, 100, "coalesced", "total") / 100
        row("refresh: at most 1.0 AWS call per deployment at N=100", f"{c:.2f}", c <= 1.0)
        t_on, t_off = fig(per, 100, "coalesced", "seconds"), fig(per, 100, "uncoalesced", "seconds")
        row("plan at N=100: at most half the time of the same plan uncoalesced, same run",
            f"{t_on:.2f} s vs {t_off:.2f} s ({t_on / t_off:.2f}×)", t_on <= t_off / 2)
    else:
        row("refresh: at most 1.0 AWS call per deployment at N=100", "–", None)
    if per:
        big = max(per)
        c = fig(per, big, "coalesced", "total") / big
        if big >= 1000:
            row("refresh: at most 0.5 AWS calls per deployment at N=1,000", f"{c:.2f}", c <= 0.5)
        else:
            row("refresh: at most 0.5 AWS calls per deployment at N=1,000",
                f"N=1,000 not run; {c:.2f} at N={big}", None)
    if "release_calls_ecsx" in s and results.get("walks", {}).get("ecsx"):
        calls = s["release_calls_ecsx"]
        row("whole four-step release: at most 45 AWS calls", f"{calls:g}", calls <= 45)
        if calls > 45:
            ops: dict[str, float] = {}
            for st in results["walks"]["ecsx"][0]:
                for part in ("plan_calls", "apply_calls"):
                    for op, n in st[part].items():
                        ops[op] = ops.get(op, 0) + n
            reads = sum(n for op, n in ops.items() if op.split(".")[1].startswith(("Describe", "List", "Get")))
            why.append(
                f"- **Why the release takes {calls:g} calls, not 45.** {calls - reads:g} of them are "
                f"writes, fewer than the script's; the {reads:g} reads are the safety checks. Each "
                "of the three plans with a state refreshes the deployment (the service, its listeners, "
                "its rules); Terraform's re-plan at the start of each of the four applies runs in a "
                "provider process of its own and reads the same three, because an apply must not write "
                "on a plan that AWS has moved away from since; the apply starts from that read. Each "
                "shift reads its listeners and rules back until ELBv2 shows the new weights, and after "
                "a task set's create and wait (seconds to minutes in AWS) the routers are read again "
                "before writing. The waits poll DescribeTaskSets. Reaching 45 would mean dropping one "
                "of these, and the issue asks for none to be dropped.")

        e = [sum(st["plan_s"] for st in walk) / len(walk) for walk in results["walks"]["ecsx"]]
        b = [sum(st["plan_s"] for st in walk) / len(walk) for walk in results["walks"]["baseline"]]
        r = med(e) / med(b)
        row("plan of one deployment: at most 1.5× the script baseline's plan",
            f"{med(e):.2f} s vs {med(b):.2f} s ({r:.2f}×, mean step of a walk)", r <= 1.5)
        one = results.get("refresh", {}).get("1")
        if r > 1.5 and one:
            full = med([x["plan_s"] for x in one])
            bare = med([x["plan_no_refresh_s"] for x in one])
            why.append(
                f"- **Why a plan takes {r:.2f}× the script's, not 1.5×.** The script's resource is "
                "Terraform's built-in `terraform_data`: no plugin process and no AWS read. A plan of "
                f"one ecsx deployment takes {full:.2f} s here, {bare:.2f} s of it with "
                f"`-refresh=false` (no AWS call at all: Terraform starting the plugin three times, "
                "the handshakes at under 2 ms each, the gRPC calls and Terraform's own work for a "
                f"plugin resource), against {med(b):.2f} s for the script; the three reads that let "
                f"the plan show drift and the real traffic split add the other {full - bare:.2f} s "
                "on this emulator. The provider's own share is small: what is left is the price of "
                "being a plugin with a truthful plan.")
    hs = med(results["handshake_ms"])
    row("handshake: at most 15 ms", f"{hs:.1f} ms", hs <= 15)
    if per:
        big = max(per)
        rss = [x["peak_rss_kb"] / 1024 for m in MODES for x in per[big][m] if x["peak_rss_kb"]]
        if rss:
            row(f"peak RSS at N=1,000: at most 40 MB",
                f"{max(rss):.1f} MB at N={big}" + ("" if big >= 1000 else " (N=1,000 not run)"),
                max(rss) <= 40 if big >= 1000 else None)
    mb = results["binary_bytes"] / 1e6
    row("stripped binary within ~15 MB", f"{mb:.2f} MB", mb <= 15.5)
    if 500 in per:
        # The provider as it ships (coalesced, paced); "uncoalesced" is the one of 0.1.0.
        failed = sum(1 for x in per[500]["coalesced, AWS limits"] if x["failed"])
        thr_u = fig(per, 500, "uncoalesced, AWS limits", "throttled")
        thr_c = fig(per, 500, "coalesced, AWS limits", "throttled")
        row("under rate limits at N=500: zero failed plans", f"{failed} failed", failed == 0)
        ok = thr_c * 4 <= thr_u if thr_u else thr_c == 0
        row("under rate limits at N=500: at least 4× fewer throttled calls than uncoalesced",
            f"{thr_c:g} vs {thr_u:g}", ok if thr_u else None)
    else:
        row("under rate limits at N=500", "N=500 not run", None)
    for goal, figure, ok in floor_report.goals(results) + judge_report.goals(results):
        row(goal, figure, ok)
    w("")
    if why:
        out.extend(why)
        w("")
    return out


if __name__ == "__main__":
    # A scale run alone (`bench/run.py --only scale`): its section, start-up and goals.
    import json
    import sys
    from pathlib import Path

    raw = json.loads(Path(sys.argv[1]).read_text())
    m = raw["machine"]
    head = [
        "# Scale benchmark (bench/run.py --only scale)",
        "",
        "Generated by `python bench/scale_report.py RESULTS OUT` from a run of `bench/run.py --only scale`; "
        "do not edit by hand. The full `make bench` writes the same sections into docs/benchmarks.md.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, load average {m['load_at_start'][0]:.1f} at the start and "
        f"{m.get('load_at_end', m['load_at_start'])[1]:.1f} over the last five minutes; {m['terraform']}; "
        f"{m['date']}. Provider build: {raw.get('provider_dir', 'not recorded')}.",
        "",
    ]
    if "debug" in str(raw.get("provider_dir", "")):
        runs = raw["settings"].get("scale_runs", 1)
        head += [
            f"A debug build and {runs} run(s) per figure: times are slower and noisier than a release "
            "`make bench`, and the binary size in the goals is the unstripped debug binary, not the "
            "release figure the goal is about. Call counts, throttled calls and failures do not "
            "depend on the build.",
            "",
        ]
    body = section(raw) + startup(raw) + goals(raw, {})
    Path(sys.argv[2]).write_text("\n".join(head + body) + "\n")
    print(f"wrote {sys.argv[2]}")
