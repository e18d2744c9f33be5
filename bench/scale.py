"""The scale bench of `make bench`: refresh of many deployments with and without
coalesced reads, with and without AWS-like rate limits at the proxy, and one apply that moves
50 canaries one step under those limits.

For each size N (one deployment per service of one cluster, bench/scale/main.tf), four
`terraform plan -detailed-exitcode` runs side by side, in an order that alternates between
sizes: coalescing and pacing on / off (`ECSX_COALESCE=off ECSX_RATE_LIMIT=off`) x no limits / AWS limits (the proxy's
`AWS_LIMITS` token buckets), plus coalesced under the limits with the provider's own pacing off
(`ECSX_RATE_LIMIT=off`). Each records wall time, AWS calls, throttled calls (answered
with a throttling error by the proxy's buckets), the SDK's retries (attempt > 1) and whether
the plan failed. The largest size also records the provider's peak RSS.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

# "uncoalesced" is the provider as it was before reads were coalesced (0.1.0): no merged reads and no pacing.
BEFORE = {"ECSX_COALESCE": "off", "ECSX_RATE_LIMIT": "off"}
MODES = (
    ("coalesced", {}, False),
    ("uncoalesced", BEFORE, False),
    ("coalesced, AWS limits", {}, True),
    ("uncoalesced, AWS limits", BEFORE, True),
    # The provider's own pacing (src/aws/pace.rs) off: what the limits do without it.
    ("coalesced, AWS limits, unpaced", {"ECSX_RATE_LIMIT": "off"}, True),
)
APPLY_CANARIES = 50


WATCH = None  # run.ProviderWatch, set by run()


def as_map(services: list[str]) -> dict[str, str]:
    """The `services` variable of bench/scale and bench/refresh: a map of name to name (the
    for_each keys stay the service names)."""
    return {s: s for s in services}


def _run(tf, *args: str, env_extra: dict, watch: bool = False) -> dict:
    """One Terraform command that may fail; its time, exit code and peak provider RSS."""
    started = time.perf_counter()
    flags = ["-no-color", "-input=false"]
    proc = subprocess.Popen(
        [*tf.cmd, args[0], *flags, *args[1:]], cwd=tf.dir, env={**tf.env, **env_extra},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    watcher = WATCH(proc.pid) if watch else None
    out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    peak = watcher.stop() if watcher else 0
    return {"seconds": seconds, "rc": proc.returncode, "peak_rss_kb": peak, "tail": out[-1500:]}


def _stats(stack) -> dict:
    return stack._http(f"{stack.url}/_proxy/stats")


def _limits(stack, on: bool) -> None:
    if on:
        stack._http(f"{stack.url}/_proxy/limits", "POST", {"preset": "aws"})
    else:
        stack._http(f"{stack.url}/_proxy/limits", "DELETE")


def _measure(stack, tf, args: list[str], env_extra: dict, limited: bool, watch: bool,
             ok_codes=(0,)) -> dict:
    stack.reset_calls()
    _limits(stack, limited)
    # A fresh bucket per measurement: nothing earlier has spent its tokens.
    r = _run(tf, *args, env_extra=env_extra, watch=watch)
    s = _stats(stack)
    _limits(stack, False)
    failed = r["rc"] not in ok_codes
    if failed:
        print(r["tail"], flush=True)
    return {
        "seconds": r["seconds"], "failed": failed, "rc": r["rc"], "peak_rss_kb": r["peak_rss_kb"],
        "calls": s["calls"], "total": s["total"], "throttled": s.get("throttled", 0),
        "retries": s.get("retries", 0),
    }


def run(stack, terraform, tf_env, watch, sizes: list[int], runs: int, scratch: Path,
        bench_dir: Path, say) -> dict:
    import infra  # noqa: PLC0415

    global WATCH
    WATCH = watch
    biggest = max(sizes + [APPLY_CANARIES])
    made = infra.create(stack.emulator_url, "sc", count=biggest)
    base = scratch / f"scale-{biggest}"
    base.mkdir()
    shutil.copy(bench_dir / "scale/main.tf", base / "main.tf")
    tfvars = {
        "cluster": made["cluster"],
        "subnets": made["subnets"],
        "security_groups": [made["security_group"]],
        "task_definition": made["task_definitions"][0],
        "blue_target_group_arn": made["blue_target_group_arn"],
        "green_target_group_arn": made["green_target_group_arn"],
        "listener_arn": made["listener_arn"],
        "rule_arn": made["rule_arn"],
        "test_listener_arn": made["test_listener_arn"],
    }
    (base / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "services": as_map(made["services"])}))
    stack.configure(stabilize_seconds=0)
    try:
        say(f"  creating {biggest} deployments")
        t0 = time.perf_counter()
        # Set-up, not measured, and without limits at the proxy: the provider's pacing off too.
        terraform(base, {**tf_env(stack, base), "ECSX_RATE_LIMIT": "off"}).run(
            "apply", "-auto-approve", "-parallelism=20")
        say(f"  created in {time.perf_counter() - t0:.1f} s")
    finally:
        stack.restore()
    dirs = {}
    for n in sorted(set(sizes + [APPLY_CANARIES])):
        if n == biggest:
            dirs[n] = base
            continue
        work = scratch / f"scale-{n}"
        work.mkdir()
        shutil.copy(base / "main.tf", work / "main.tf")
        shutil.copy(base / "terraform.tfstate", work / "terraform.tfstate")
        (work / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "services": as_map(made["services"][:n])}))
        extra = [f'ecsx_canary_deployment.svc["{s}"]' for s in made["services"][n:]]
        terraform(work, tf_env(stack, work)).run("state", "rm", *extra)
        dirs[n] = work

    out: dict = {"sizes": sizes, "modes": [m[0] for m in MODES], "refresh": {}, "apply": {}}
    for n in sizes:
        tf = terraform(dirs[n], tf_env(stack, dirs[n]))
        per_mode: dict[str, list] = {m[0]: [] for m in MODES}
        for i in range(runs):
            order = MODES if i % 2 == 0 else MODES[::-1]
            for name, env_extra, limited in order:
                per_mode[name].append(_measure(
                    stack, tf, ["plan", "-detailed-exitcode"], env_extra, limited,
                    watch=(n == max(sizes)), ok_codes=(0,),
                ))
        out["refresh"][n] = per_mode
        line = ", ".join(
            f"{name} {statistics.median(s['seconds'] for s in per_mode[name]):.2f} s "
            f"{statistics.median(s['total'] for s in per_mode[name]) / n:.2f} calls/dep "
            f"{statistics.median(s['throttled'] for s in per_mode[name]):.0f} thr"
            for name, _, _ in MODES
        )
        say(f"  {n:>4} deployments: {line}")

    # One apply that moves 50 canaries one step (in: a new canary task set each, then 90/10),
    # under the AWS limits, coalescing on; then the same step back (rollback) for the next run.
    work = dirs[APPLY_CANARIES]
    tf = terraform(work, tf_env(stack, work))
    canary = [f"-var=canary_task_definition={made['task_definitions'][1]}",
              "-var=canary_traffic_percent=10"]
    stack.configure(stabilize_seconds=0, drain_seconds=0)
    try:
        for name, env_extra, _ in MODES[:2]:
            res = _measure(stack, tf, ["apply", "-auto-approve", *canary], env_extra, True, watch=False)
            out["apply"][name] = res
            say(f"  apply, {APPLY_CANARIES} canaries in, {name}, AWS limits: {res['seconds']:.1f} s, "
                f"{res['total']} calls, {res['throttled']} throttled, {res['retries']} retries"
                f"{', FAILED' if res['failed'] else ''}")
            back = _run(tf, "apply", "-auto-approve", env_extra={})
            if back["rc"] != 0:
                print(back["tail"], flush=True)
                raise SystemExit("rollback of the 50 canaries failed")
    finally:
        stack.restore()
    return out
