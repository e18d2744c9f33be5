"""The rollback bench of `make bench`: how long production traffic stays on a bad canary.

One deployment (bench/rollback/main.tf) with an `analysis` alarm read every `check_interval`.

- *Alarm*: a release walks to step 1 (10% to the canary) and bakes there; at a random moment
  of the bake (uniform over two check intervals after the routers first show 10%) the bench
  sets the alarm to ALARM in the emulator. The apply rolls back and fails, as it should.
- *Abort action*: a release stops at an approval gate with 10% on the canary; the bench runs
  `terraform apply -invoke=action.ecsx_canary_abort.web`.

Measured per run, from the flip (the moment before the bench's SetAlarmState call, or before
it starts Terraform for the action), with the proxy's timestamped call log (/_proxy/events):
the first DescribeAlarms answer after it (the provider saw ALARM), the last ModifyRule /
ModifyListener answer (the stable weights written), and the last DescribeRules /
DescribeListeners answer after that (the routers read back: the figure the goal is about).
The bench also polls the emulator directly every 20 ms and records when all three routers
show all traffic on the stable target group.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import time
from pathlib import Path

ROUTER_WRITES = ("elbv2.ModifyRule", "elbv2.ModifyListener")
ROUTER_READS = ("elbv2.DescribeRules", "elbv2.DescribeListeners")
ALARM = "bench-5xx"


def _cloudwatch(endpoint: str):
    import boto3  # noqa: PLC0415

    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1",
    ).client("cloudwatch", endpoint_url=endpoint)


def _weights(elbv2, made: dict) -> list[dict[str, int]]:
    """Each router's weight per target group, read from the emulator directly: the production
    listener, the test listener, the production rule."""
    out = []
    for arn in (made["listener_arn"], made["test_listener_arn"]):
        actions = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
        out.append({g["TargetGroupArn"]: g.get("Weight", 0)
                    for g in actions[0]["ForwardConfig"]["TargetGroups"]})
    actions = elbv2.describe_rules(RuleArns=[made["rule_arn"]])["Rules"][0]["Actions"]
    out.append({g["TargetGroupArn"]: g.get("Weight", 0)
                for g in actions[0]["ForwardConfig"]["TargetGroups"]})
    return out


def _wait_weights(elbv2, made: dict, canary: int, timeout: float = 120, proc=None) -> float:
    """Polls until the production routers give the canary (green) `canary` percent, or with 0,
    until all three do; returns when.
    Stops early when `proc` (the apply that should get there) has ended with an error."""
    green = made["green_target_group_arn"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        routers = _weights(elbv2, made)
        # The test listener sends all test traffic to a steady canary; the production
        # routers (listener, rule) carry the step's weight. Rolled back, all three are stable.
        watched = routers if canary == 0 else [routers[0], routers[2]]
        if all(w.get(green, 0) == canary for w in watched):
            return time.time()
        if proc is not None and proc.poll() not in (None, 0):
            print(proc.communicate()[0][-3000:], flush=True)
            break
        time.sleep(0.02)
    raise SystemExit(f"rollback bench: the routers never showed {canary}% on the canary")


def _breakdown(events: list[dict], flip: float) -> dict:
    """Times after the flip, from the proxy's log of the provider's calls."""
    after = [e for e in events if e["end"] >= flip]
    seen = next((e["end"] for e in after if e["operation"] == "cloudwatch.DescribeAlarms"), None)
    writes = [e["end"] for e in after if e["operation"] in ROUTER_WRITES]
    written = max(writes) if writes else None
    reads = [e["end"] for e in after if e["operation"] in ROUTER_READS and written and e["start"] >= written]
    first = min((e["start"] for e in after), default=None)
    rel = lambda t: None if t is None else t - flip  # noqa: E731
    return {"first_call": rel(first), "alarm_seen": rel(seen), "written": rel(written),
            "read_back": rel(max(reads) if reads else None), "writes": len(writes),
            "reads_back": len(reads)}


def run(stack, terraform, tf_env, flips: int, check_interval: float, scratch: Path,
        bench_dir: Path, say) -> dict:
    import infra  # noqa: PLC0415

    # A fresh emulator: every ECS request of the rig advances the emulated scheduler over every
    # service it holds, so services of earlier parts would slow these answers down.
    stack._http(f"{stack.emulator_url}/moto-api/reset", "POST")
    made = infra.create(stack.emulator_url, "rb")
    ecs_td = made["task_definitions"]
    elbv2 = infra._clients(stack.emulator_url)["elbv2"]
    cw = _cloudwatch(stack.emulator_url)
    cw.put_metric_alarm(AlarmName=ALARM, Namespace="ecsx/bench", MetricName="5xx", Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="bench set-up")
    work = scratch / "rollback"
    work.mkdir()
    shutil.copy(bench_dir / "rollback/main.tf", work / "main.tf")
    interval = f"{check_interval:g}s"
    (work / "terraform.tfvars.json").write_text(json.dumps({
        "cluster": made["cluster"], "service": made["services"][0], "subnets": made["subnets"],
        "security_groups": [made["security_group"]], "stable_task_definition": ecs_td[0],
        "blue_target_group_arn": made["blue_target_group_arn"],
        "green_target_group_arn": made["green_target_group_arn"],
        "listener_arn": made["listener_arn"], "rule_arn": made["rule_arn"],
        "test_listener_arn": made["test_listener_arn"], "alarm_name": ALARM,
        "check_interval": interval,
    }))
    tf = terraform(work, tf_env(stack, work))
    tf.run("apply", "-auto-approve")
    rng = random.Random(30)

    def release(attempt: int, steps: list[dict]) -> list[str]:
        return [f"-var=canary_task_definition={ecs_td[1]}", f"-var=attempt={attempt}",
                f"-var=steps={json.dumps(steps)}"]

    def events() -> list[dict]:
        return stack._http(f"{stack.url}/_proxy/events")

    out: dict = {"check_interval": check_interval, "alarm": [], "abort": []}
    # An alarm at a random moment of a long bake.
    for i in range(flips):
        cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="bench: next run")
        stack.reset_calls()
        proc = subprocess.Popen(
            [*tf.cmd, "apply", "-no-color", "-input=false", "-auto-approve",
             *release(i + 1, [{"traffic_percent": 10, "pause": "10m"},
                              {"traffic_percent": 50, "pause": "0s"}])],
            cwd=work, env=tf.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        at_step = _wait_weights(elbv2, made, 10, proc=proc)
        time.sleep(max(0.0, at_step + rng.uniform(0, 2 * check_interval) - time.time()))
        flip = time.time()
        cw.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="bench: flipped")
        stable = _wait_weights(elbv2, made, 0)
        text, _ = proc.communicate(timeout=300)
        if proc.returncode == 0 or "Release rolled back" not in text:
            print(text[-3000:], flush=True)
            raise SystemExit("rollback bench: the apply did not roll back on the alarm")
        row = {"flip_after_step_s": flip - at_step, "observed": stable - flip, **_breakdown(events(), flip)}
        if row["read_back"] is None:
            # No read of the routers after the last write reached the proxy: the emulator's view.
            row["read_back"] = row["observed"]
        out["alarm"].append(row)
        say(f"  alarm flip {i + 1}/{flips}: {row['flip_after_step_s']:.2f} s into the bake; "
            f"seen {row['alarm_seen'] or 0:.2f} s, written {row['written'] or 0:.2f} s, "
            f"read back {row['read_back']:.2f} s (emulator shows it at {row['observed']:.2f} s)")
    cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="bench: abort runs")
    # The abort action on a release held at a gate with 10% on the canary.
    for i in range(flips):
        tf.run("apply", "-auto-approve", *release(1000 + i, [
            {"traffic_percent": 10, "pause": "0s"}, {"traffic_percent": 50, "approval": True}]))
        _wait_weights(elbv2, made, 10, timeout=5)
        stack.reset_calls()
        flip = time.time()
        proc = subprocess.Popen(
            [*tf.cmd, "apply", "-no-color", "-input=false", "-auto-approve",
             "-invoke=action.ecsx_canary_abort.web",
             *release(1000 + i, [{"traffic_percent": 10, "pause": "0s"},
                                 {"traffic_percent": 50, "approval": True}])],
            cwd=work, env=tf.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        stable = _wait_weights(elbv2, made, 0, proc=proc)
        text, _ = proc.communicate(timeout=300)
        exited = time.time()
        if proc.returncode != 0:
            print(text[-3000:], flush=True)
            raise SystemExit("rollback bench: the abort action failed")
        row = {"observed": stable - flip, "exited": exited - flip, **_breakdown(events(), flip)}
        if row["read_back"] is None:
            # No read of the routers after the last write reached the proxy: the emulator's view.
            row["read_back"] = row["observed"]
        out["abort"].append(row)
        say(f"  abort {i + 1}/{flips}: first AWS call {row['first_call'] or 0:.2f} s, written {row['written'] or 0:.2f} s, "
            f"read back {row['read_back']:.2f} s, terraform exited {row['exited']:.2f} s")
    for kind in ("alarm", "abort"):
        xs = [r["read_back"] for r in out[kind]]
        say(f"  {kind}: read back median {statistics.median(xs):.2f} s, worst {max(xs):.2f} s "
            f"(check_interval {check_interval:g} s)")
    return out
