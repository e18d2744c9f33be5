"""The judge bench of `make bench`: what the built-in judge costs in AWS calls, and how long a
bad canary keeps its traffic once its first bad window is readable.

One deployment per release (bench/judge/main.tf), each on an emulator and counting proxy of its
own, with ALB-style CloudWatch points (namespace AWS/ApplicationELB, per target group and load
balancer) published on the real clock, since the provider reads CloudWatch with its own clock.
The judge reads 1-minute windows with no delay (`window = "1m"`, `delay = "0s"`), so a minute's
window is readable as soon as the minute is over.

- *Calls*: the same healthy release (10% for 2 minutes, 50% for 2 minutes, promoted in the same
  apply) three ways side by side: judged (`analysis.compare` read every `check_interval`),
  watching one alarm that stays OK at the same interval, and without an analysis block. Counted
  at the proxy over the whole `terraform apply`; the checks, and what each found, from the
  provider's log (`judged` lines, TF_LOG_PROVIDER=info).
- *Latency*: a release bakes at 10% for up to 10 minutes on healthy minutes; from minute M
  (the second whole minute of the step's traffic, so one healthy window passes first) the
  canary answers 20% 5XX against the baseline's 1%. The first bad window [M, M+60) is readable
  at M+60 s. Measured from then, with the proxy's timestamped call log (/_proxy/events): the
  GetMetricData answer that saw it (the last one before the rollback's first router write), the
  last ModifyRule / ModifyListener answer (traffic written back to 100/0), the last
  DescribeRules / DescribeListeners answer after it (read back); and when the bench, polling the
  emulator every 20 ms, saw all three routers at 100/0. Runs go concurrently, one minute apart,
  their starts offset at random within one stratum each of a check interval, so their bad
  minutes differ and their checks fall across the interval. The figure is bounded by
  `check_interval`.
"""

from __future__ import annotations

import datetime
import json
import random
import re
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

ROUTER_WRITES = ("elbv2.ModifyRule", "elbv2.ModifyListener")
ROUTER_READS = ("elbv2.DescribeRules", "elbv2.DescribeListeners")
GET_METRIC_DATA = "cloudwatch.GetMetricData"
ALARM = "bench-judge-ok"
MINUTE = 60
# Per minute: (requests, 5XX) of the canary and of the baseline.
HEALTHY = ((100, 0), (900, 0))
BAD = ((100, 20), (900, 9))
# The healthy release of the call count: two judged steps, promoted in the same apply.
CALL_STEPS = [{"traffic_percent": 10, "pause": "2m"}, {"traffic_percent": 50, "pause": "2m"}]
WATCHES = ("judge", "alarms", "none")
# The latency release: a long bake the first bad window ends.
LATENCY_STEPS = [{"traffic_percent": 10, "pause": "10m"}, {"traffic_percent": 50, "pause": "0s"}]


def _cloudwatch(endpoint: str):
    import boto3  # noqa: PLC0415

    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1",
    ).client("cloudwatch", endpoint_url=endpoint)


def _dimensions(target_group_arn: str, load_balancer_arn: str) -> list[dict]:
    """`TargetGroup=targetgroup/NAME/ID`, `LoadBalancer=app/NAME/ID`: the ARNs' resource parts,
    as ELB files a target group's metrics."""
    tg = target_group_arn.split(":", 5)[5]
    lb = load_balancer_arn.split(":", 5)[5].removeprefix("loadbalancer/")
    return [{"Name": "TargetGroup", "Value": tg}, {"Name": "LoadBalancer", "Value": lb}]


def _publish(cw, made: dict, minutes: list[int], shape) -> None:
    """One minute of ALB points per target group for each minute start in `minutes`, stamped
    inside the minute; `shape` gives (canary, baseline) as (requests, 5XX) for a minute. 99% of
    the requests take 50 ms and 1% 200 ms (p99 50 ms from 100 requests up), as ELB publishes
    them: counts only when not zero, response times as values with counts."""
    lb = made["load_balancer_arn"]
    for at in minutes:
        stamp = datetime.datetime.fromtimestamp(at + 30, datetime.timezone.utc)
        for tg, (requests, errors) in zip((made["green_target_group_arn"], made["blue_target_group_arn"]),
                                          shape(at)):
            dims = _dimensions(tg, lb)
            slow = max(1, requests // 100)
            data = [{"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": stamp,
                     "Unit": "Count", "Value": requests},
                    {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": stamp,
                     "Unit": "Seconds", "Values": [0.05, 0.2], "Counts": [requests - slow, slow]}]
            if errors:
                data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims,
                             "Timestamp": stamp, "Unit": "Count", "Value": errors})
            cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


def _weights(elbv2, made: dict) -> list[dict[str, int]]:
    """Each router's weight per target group, from the emulator: production listener, test
    listener, production rule."""
    out = []
    for arn in (made["listener_arn"], made["test_listener_arn"]):
        actions = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
        out.append({g["TargetGroupArn"]: g.get("Weight", 0) for g in actions[0]["ForwardConfig"]["TargetGroups"]})
    actions = elbv2.describe_rules(RuleArns=[made["rule_arn"]])["Rules"][0]["Actions"]
    out.append({g["TargetGroupArn"]: g.get("Weight", 0) for g in actions[0]["ForwardConfig"]["TargetGroups"]})
    return out


def _wait_canary(elbv2, made: dict, percent: int, proc, timeout: float = 120, poll: float = 0.2) -> float:
    """Polls until the production routers give the canary (green) `percent`; returns when."""
    green = made["green_target_group_arn"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        routers = _weights(elbv2, made)
        if all(w.get(green, 0) == percent for w in (routers[0], routers[2])):
            return time.time()
        if proc.poll() is not None:
            break
        time.sleep(poll)
    print(proc.communicate()[0][-3000:] if proc.poll() is not None else "", flush=True)
    raise SystemExit(f"judge bench: the routers never showed {percent}% on the canary")


def _wait_stable(elbv2, made: dict, fast_from: float, timeout: float) -> float:
    """Polls until all three routers send everything to the stable (blue) target group: every
    0.5 s until `fast_from`, then every 20 ms; returns when."""
    blue = made["blue_target_group_arn"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(w.get(blue, 0) == 100 for w in _weights(elbv2, made)):
            return time.time()
        time.sleep(0.02 if time.time() >= fast_from else 0.5)
    raise SystemExit("judge bench: the routers never came back to 100/0")


def _checks(log: Path) -> list[dict]:
    """The provider's `judged` lines (Terraform's re-log of TF_LOG_PROVIDER=info): each check's
    step and verdict, and whether it read a window (before the first whole window of a step's
    traffic is readable, a check reads nothing)."""
    verdict = re.compile(r"""verdict[=:]\s*"?([A-Z]+)""")
    step = re.compile(r"""\bstep[=:]\s*"?(\d+)""")
    window = re.compile(r"window (\d\d:\d\d-\d\d:\d\d) UTC")
    out = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if "judged" not in line or not (v := verdict.search(line)):
            continue
        s = step.search(line)
        try:  # Terraform's own stamp of the line, e.g. 2026-12-07T18:40:01.123Z
            at = datetime.datetime.fromisoformat(line.split()[0]).timestamp()
        except (ValueError, IndexError):
            at = None
        win = window.search(line)
        out.append({"step": int(s.group(1)) if s else None, "verdict": v.group(1), "at": at,
                    "window": win.group(1) if win else None,
                    "read": "no whole window at this weight yet" not in line})
    return out


def _per_check(checks: list[dict], events: list[dict]) -> dict:
    """AWS calls per check in the steady state of each bake: the calls that started after a
    step's first check was logged and up to its last, over the checks after the first (the
    first follows the step's own traffic shift at once)."""
    ops: dict[str, int] = {}
    n = 0
    for step in sorted({c["step"] for c in checks if c["at"] is not None}):
        times = sorted(c["at"] for c in checks if c["step"] == step and c["at"] is not None)
        if len(times) < 2:
            continue
        n += len(times) - 1
        for e in events:
            if times[0] < e["start"] <= times[-1]:
                ops[e["operation"]] = ops.get(e["operation"], 0) + 1
    return {"checks": n, "ops": {op: k / n for op, k in ops.items()} if n else {}}


def _bursts(events: list[dict], operation: str, gap: float) -> list[int]:
    """Calls of `operation` grouped into bursts (no more than `gap` seconds apart): the calls of
    one check, pages included, since checks are a check interval apart."""
    times = sorted(e["start"] for e in events if e["operation"] == operation)
    bursts: list[int] = []
    last = None
    for t in times:
        if last is not None and t - last <= gap:
            bursts[-1] += 1
        else:
            bursts.append(1)
        last = t
    return bursts


def _tfvars(made: dict, check_interval: float, watch: str) -> dict:
    return {
        "cluster": made["cluster"], "service": made["services"][0], "subnets": made["subnets"],
        "security_groups": [made["security_group"]], "stable_task_definition": made["task_definitions"][0],
        "blue_target_group_arn": made["blue_target_group_arn"],
        "green_target_group_arn": made["green_target_group_arn"],
        "listener_arn": made["listener_arn"], "rule_arn": made["rule_arn"],
        "test_listener_arn": made["test_listener_arn"], "watch": watch, "alarm_name": ALARM,
        "check_interval": f"{check_interval:g}s",
    }


class Release:
    """One deployment on a stack of its own, bootstrapped (stable only, no canary)."""

    def __init__(self, new_stack, terraform, tf_env, name: str, watch: str, check_interval: float,
                 scratch: Path, bench_dir: Path):
        import infra  # noqa: PLC0415

        self.stack = new_stack()
        try:
            self.made = infra.create(self.stack.emulator_url, name)
            self.elbv2 = infra._clients(self.stack.emulator_url)["elbv2"]
            self.cw = _cloudwatch(self.stack.emulator_url)
            if watch == "alarms":
                self.cw.put_metric_alarm(
                    AlarmName=ALARM, Namespace="ecsx/bench", MetricName="5xx", Statistic="Sum", Period=60,
                    EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold")
                self.cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="bench set-up")
            self.work = scratch / f"judge-{name}"
            self.work.mkdir()
            shutil.copy(bench_dir / "judge/main.tf", self.work / "main.tf")
            (self.work / "terraform.tfvars.json").write_text(json.dumps(_tfvars(self.made, check_interval, watch)))
            self.log = self.work / "provider.log"
            self.tf = terraform(self.work, {**tf_env(self.stack, self.work), "TF_LOG_PROVIDER": "info",
                                            "TF_LOG_PATH": str(self.log)})
            self.tf.run("apply", "-auto-approve")
        except BaseException:
            self.stack.stop()
            raise

    def start(self, steps: list[dict], promote: bool) -> subprocess.Popen:
        """Starts the release of the canary (task definition 1) walking `steps`, logging afresh."""
        self.log.unlink(missing_ok=True)
        self.stack.reset_calls()
        return subprocess.Popen(
            [*self.tf.cmd, "apply", "-no-color", "-input=false", "-auto-approve",
             f"-var=canary_task_definition={self.made['task_definitions'][1]}",
             f"-var=steps={json.dumps(steps)}", f"-var=promote={'true' if promote else 'false'}"],
            cwd=self.work, env=self.tf.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def events(self) -> list[dict]:
        return self.stack._http(f"{self.stack.url}/_proxy/events")

    def state(self) -> dict:
        out = subprocess.run([*self.tf.cmd, "show", "-json"], cwd=self.work, env=self.tf.env,
                             capture_output=True, text=True, check=True).stdout
        resources = json.loads(out)["values"]["root_module"]["resources"]
        return next(r["values"] for r in resources if r["address"] == "ecsx_canary_deployment.web")


def _in_threads(jobs: dict, undo=None) -> dict:
    """Runs each job (name -> function) in a thread of its own; re-raises the first failure,
    after `undo` of each result the other jobs made."""
    results: dict = {}
    errors: dict = {}

    def one(name, job):
        try:
            results[name] = job()
        except BaseException as e:  # noqa: BLE001 - reported below, with the job's name
            errors[name] = e

    threads = [threading.Thread(target=one, args=(n, j), daemon=True) for n, j in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for made in results.values() if undo else []:
            undo(made)
        name, e = next(iter(errors.items()))
        raise SystemExit(f"judge bench: {name} failed: {e}")
    return results


# --------------------------------------------------------------------------
# 1. Calls per check and per release
# --------------------------------------------------------------------------


def _calls_release(new_stack, terraform, tf_env, watch: str, check_interval: float, scratch: Path,
                   bench_dir: Path, say) -> dict:
    r = Release(new_stack, terraform, tf_env, f"jc-{watch}", watch, check_interval, scratch, bench_dir)
    try:
        now = int(time.time())
        minute = now - now % MINUTE
        # Healthy minutes from before the release to after it (it takes about five minutes).
        _publish(r.cw, r.made, [minute + k * MINUTE for k in range(-2, 9)], lambda _at: HEALTHY)
        started = time.time()
        proc = r.start(CALL_STEPS, promote=True)
        text, _ = proc.communicate(timeout=900)
        seconds = time.time() - started
        if proc.returncode != 0:
            print(text[-3000:], flush=True)
            raise SystemExit(f"judge bench: the healthy release ({watch}) failed")
        calls = r.stack.calls()
        events = r.events()
        st = r.state()
        if st["last_release"]["result"] != "promoted":
            raise SystemExit(f"judge bench: the healthy release ({watch}) ended {st['last_release']}")
        checks = _checks(r.log)
        bursts = _bursts(events, GET_METRIC_DATA, check_interval / 2)
        row = {"watch": watch, "apply_s": seconds, "calls": calls, "total": sum(calls.values()),
               "checks": checks, "get_metric_data_bursts": bursts, "per_check": _per_check(checks, events),
               "reason": st["last_release"].get("reason")}
        read = sum(1 for c in checks if c["read"])
        say(f"  {watch:<6} release {seconds:5.1f} s: {row['total']} AWS calls, "
            f"{calls.get(GET_METRIC_DATA, 0)} GetMetricData, {len(checks)} checks ({read} read a window)")
        return row
    finally:
        r.stack.stop()


def calls(new_stack, terraform, tf_env, check_interval: float, scratch: Path, bench_dir: Path, say) -> dict:
    return _in_threads({w: (lambda w=w: _calls_release(new_stack, terraform, tf_env, w, check_interval,
                                                        scratch, bench_dir, say)) for w in WATCHES})


# --------------------------------------------------------------------------
# 2. From the first bad window readable to traffic back at 100/0
# --------------------------------------------------------------------------


def _breakdown(events: list[dict], readable: float) -> dict:
    """Times after the first bad window became readable, from the proxy's call log."""
    writes = sorted((e for e in events if e["operation"] in ROUTER_WRITES and e["start"] >= readable),
                    key=lambda e: e["start"])
    if not writes:
        raise SystemExit("judge bench: no router write after the bad window became readable")
    first_write = writes[0]["start"]
    seen = max((e for e in events if e["operation"] == GET_METRIC_DATA and e["end"] <= first_write),
               key=lambda e: e["end"], default=None)
    written = max(e["end"] for e in writes)
    reads = [e["end"] for e in events if e["operation"] in ROUTER_READS and e["start"] >= written]
    rel = lambda t: None if t is None else t - readable  # noqa: E731
    return {"check_started": rel(seen and seen["start"]), "seen": rel(seen and seen["end"]),
            "first_write": rel(first_write), "written": rel(written),
            "read_back": rel(max(reads) if reads else None), "writes": len(writes), "reads_back": len(reads),
            "get_metric_data": sum(1 for e in events if e["operation"] == GET_METRIC_DATA)}


def _latency_run(r: Release, i: int, start_at: float, minutes: dict, lock: threading.Lock, say) -> dict:
    time.sleep(max(0.0, start_at - time.time()))
    proc = r.start(LATENCY_STEPS, promote=False)
    try:
        at_step = _wait_canary(r.elbv2, r.made, 10, proc)
        # The bake's first whole minute starts at or before the minute after at_step + 5 s (the
        # bake begins right after the routers read back the step's weights); the bad minute M is
        # the one after that, so one healthy window is judged first. Runs never share M.
        with lock:
            m = -(-(int(at_step) + 5) // MINUTE) * MINUTE + MINUTE
            while m in minutes:
                m += MINUTE
            minutes[m] = i
        _publish(r.cw, r.made, [m + k * MINUTE for k in range(-8, 5)],
                 lambda at: BAD if at >= m else HEALTHY)
        readable = m + MINUTE
        stable = _wait_stable(r.elbv2, r.made, fast_from=readable - 1, timeout=readable - time.time() + 120)
        text, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if proc.returncode == 0 or "Release rolled back" not in text or "error rate" not in text:
        print(text[-3000:], flush=True)
        raise SystemExit("judge bench: the release was not rolled back by the judge")
    checks = _checks(r.log)
    row = {"bad_minute": m, "step_at": at_step - m, "observed": stable - readable,
           "checks": len(checks), "verdicts": [c["verdict"] for c in checks if c["read"]],
           "windows": [c["window"] for c in checks if c["read"]],
           **_breakdown(r.events(), readable)}
    if row["read_back"] is None:
        # No read of the routers after the last write reached the proxy: the emulator's view.
        row["read_back"] = row["observed"]
    say(f"  run {i + 1}: bad window readable at {time.strftime('%H:%M:%S', time.gmtime(readable))}; "
        f"seen {row['seen']:.2f} s, written {row['written']:.2f} s, read back {row['read_back']:.2f} s "
        f"(emulator shows it at {row['observed']:.2f} s); verdicts {' '.join(row['verdicts'])}")
    return row


def latency(new_stack, terraform, tf_env, runs: int, check_interval: float, scratch: Path, bench_dir: Path,
            say) -> list[dict]:
    releases = _in_threads({i: (lambda i=i: Release(new_stack, terraform, tf_env, f"jl{i + 1}", "judge",
                                                    check_interval, scratch, bench_dir)) for i in range(runs)},
                           undo=lambda r: r.stack.stop())
    try:
        # Start offsets spread over the check interval (one stratum each), so the checks of the
        # runs fall at different points of it when their bad windows become readable.
        rng = random.Random(28)
        base = time.time() + 1
        offsets = [(i + rng.random()) * check_interval / runs for i in range(runs)]
        minutes: dict[int, int] = {}
        lock = threading.Lock()
        rows = _in_threads({i: (lambda i=i: _latency_run(
            releases[i], i, base + i * MINUTE + offsets[i], minutes, lock, say))
            for i in range(runs)})
    finally:
        for r in releases.values():
            r.stack.stop()
    return [rows[i] for i in range(runs)]


def run(new_stack, terraform, tf_env, runs: int, check_interval: float, scratch: Path, bench_dir: Path,
        say) -> dict:
    """Both parts. `new_stack()` starts an emulator with its counting proxy (bench/run.py's Stack)."""
    out: dict = {"check_interval": check_interval, "window": "1m", "delay": "0s",
                 "call_steps": CALL_STEPS, "latency_steps": LATENCY_STEPS,
                 "traffic": {"healthy": HEALTHY, "bad": BAD}}
    say(f"  calls: the same healthy release judged, watching one alarm, and unwatched (check_interval {check_interval:g} s)")
    out["calls"] = calls(new_stack, terraform, tf_env, check_interval, scratch, bench_dir, say)
    say(f"  latency: {runs} releases rolled back by the judge, one minute apart")
    out["latency"] = latency(new_stack, terraform, tf_env, runs, check_interval, scratch, bench_dir, say)
    xs = [r["read_back"] for r in out["latency"]]
    say(f"  first bad window readable to read back at 100/0: median {statistics.median(xs):.2f} s, "
        f"worst {max(xs):.2f} s (check_interval {check_interval:g} s)")
    return out
