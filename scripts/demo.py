#!/usr/bin/env python3
"""`make demo`: canary releases, planned and applied with real Terraform.

Starts the local AWS emulator, builds a cluster, an EXTERNAL-controller service, an ALB
with a listener, a rule, a test listener and two target groups, then walks
examples/demo/ through: bootstrap, canary at 10%, canary at 50%, promote, a second
release at 10%, rollback; then a scheduled release that a CloudWatch alarm rolls back
mid-bake, and a gated release continued by the `ecsx_canary_continue` action, which
promotes it in the same run; then destroy. Each step prints the plan's traffic preview
(`rollout_steps` and the weights) before applying it. Last, a native ECS canary (a service on
the ECS deployment controller, examples/demo-native/) paused before its production shifts is
seen at plan and continued by the `ecsx_service_deployment_continue` action. Everything is torn
down at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(ROOT / "tests" / "rig"))

import infra  # noqa: E402


def say(text: str) -> None:
    print(text, flush=True)


def start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [PY, str(ROOT / "tests/rig/emulator.py"), "--port", "0", "--stabilize-seconds", "2", "--drain-seconds", "1", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}"


class Terraform:
    def __init__(self, workdir: Path, endpoint: str, provider_dir: Path):
        self.dir = workdir
        cli = workdir / "cli.tfrc"
        cli.write_text(
            'provider_installation {\n'
            f'  dev_overrides {{ "registry.terraform.io/ecsx/ecsx" = "{provider_dir}" }}\n'
            "  direct {}\n}\ndisable_checkpoint = true\n"
        )
        self.env = dict(
            os.environ,
            TF_CLI_CONFIG_FILE=str(cli),
            TF_IN_AUTOMATION="1",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION="us-east-1",
            ECSX_POLL_INTERVAL="500ms",
        )
        self.cmd = os.environ.get("ECSX_TERRAFORM", f"{PY} {ROOT / 'tests/rig/terraform.py'}").split()

    def run(self, *args: str, quiet: bool = True) -> str:
        out = subprocess.run(
            [*self.cmd, *args, "-no-color"], cwd=self.dir, env=self.env, capture_output=True, text=True
        )
        if out.returncode != 0:
            say(out.stdout + out.stderr)
            raise SystemExit(f"terraform {args[0]} failed")
        return out.stdout

    def preview(self, title: str, variables: dict) -> None:
        """Plans with `variables` into step.plan and prints what the apply will do."""
        say(f"\n=== {title}")
        var_args = [f"-var={k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in variables.items()]
        out = self.run("plan", "-out=step.plan", *var_args)
        for summary, detail in diagnostics(out, "Warning"):
            if summary != "Provider development overrides are in effect":
                say(f"plan warning: {summary}: {detail}")
        plan = json.loads(self.run("show", "-json", "step.plan"))
        for change in plan.get("resource_changes", []):
            if change["type"] != "ecsx_canary_deployment":
                continue
            after = change["change"]["after"] or {}
            actions = "/".join(change["change"]["actions"])
            say(f"plan: {actions}; traffic after apply: primary {after.get('primary_weight')} / canary {after.get('canary_weight')}")
            steps = after.get("rollout_steps") or []
            if actions == "no-op" or not steps:
                say("  (nothing to do)")
                continue
            for s in steps:
                say(f"  - {s}")

    def show(self) -> None:
        outputs = json.loads(self.run("output", "-json"))
        say(f"applied: traffic {outputs['traffic']['value']}")
        for t in outputs["task_sets"]["value"]:
            say(f"  task set {t}")

    def step(self, title: str, variables: dict) -> None:
        self.preview(title, variables)
        self.run("apply", "step.plan")
        self.show()

    def apply_until_alarm(self, endpoint: str, listener: str, alarm: str) -> None:
        """Applies step.plan in the background; fires `alarm` once the canary has traffic."""
        apply = subprocess.Popen(
            [*self.cmd, "apply", "-no-color", "step.plan"], cwd=self.dir, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        elbv2 = infra._clients(endpoint)["elbv2"]
        deadline = time.monotonic() + 120
        while apply.poll() is None and time.monotonic() < deadline:
            action = elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
            weights = [g.get("Weight", 0) for g in action.get("ForwardConfig", {}).get("TargetGroups", [])]
            if 0 < min(weights, default=0):
                say(f"canary takes traffic ({'/'.join(map(str, weights))}); setting alarm {alarm} to ALARM")
                cloudwatch(endpoint).set_alarm_state(
                    AlarmName=alarm, StateValue="ALARM", StateReason="Threshold Crossed: 12 5xx responses in 1 minute"
                )
                break
            time.sleep(0.2)
        out, _ = apply.communicate(timeout=300)
        if apply.returncode == 0:
            say(out)
            raise SystemExit("the apply should have failed: the alarm did not roll the release back")
        say(f"apply failed (exit {apply.returncode}), as it should:")
        for summary, detail in diagnostics(out, "Error"):
            say(f"  Error: {summary}")
            say(f"    {detail}")
        self.show()

    def invoke(self, action: str, variables: dict) -> None:
        say(f"\n=== terraform apply -invoke=action.{action}.web")
        var_args = [f"-var={k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in variables.items()]
        out = self.run("apply", "-auto-approve", f"-invoke=action.{action}.web", *var_args)
        for line in out.splitlines():
            if "Action" in line:
                say(f"  {line.strip()}")


def native_chapter(endpoint: str, made: dict, provider_dir: Path, work: Path) -> None:
    """13. A native canary: created on the ECS controller with a PAUSE hook before each
    production shift, released, shown at plan, continued twice by the action."""
    ecs = infra._clients(endpoint)["ecs"]
    v1, v2, _ = made["task_definitions"]
    # Lifecycle stages of half a second, so the demo does not wait ECS's real pace.
    request = __import__("urllib.request").request
    request.urlopen(request.Request(
        f"{endpoint}/_rig/config", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"native_stage_seconds": 0.5}).encode()), timeout=10).read()
    service = "web-native"
    ecs.create_service(
        cluster=made["cluster"], serviceName=service, taskDefinition=v1, desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": made["subnets"], "securityGroups": [made["security_group"]]}},
        loadBalancers=[{
            "targetGroupArn": made["blue_target_group_arn"], "containerName": "web",
            "containerPort": 8080,
            "advancedConfiguration": {
                "alternateTargetGroupArn": made["green_target_group_arn"],
                "productionListenerRule": made["rule_arn"],
                "roleArn": "arn:aws:iam::123456789012:role/ecs-infrastructure",
            },
        }],
        deploymentConfiguration={
            "strategy": "CANARY",
            "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 0},
            "bakeTimeInMinutes": 0,
            "lifecycleHooks": [{
                "targetType": "PAUSE", "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
                "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"},
            }],
        },
    )
    native = work / "native"
    native.mkdir()
    shutil.copy(ROOT / "examples" / "demo-native" / "main.tf", native / "main.tf")
    (native / "terraform.tfvars.json").write_text(
        json.dumps({"endpoint": endpoint, "cluster": made["cluster"], "service": service}))
    tf = Terraform(native, endpoint, provider_dir)

    def newest() -> dict:
        arn = ecs.list_service_deployments(cluster=made["cluster"], service=service)[
            "serviceDeployments"][0]["serviceDeploymentArn"]
        return ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]

    def wait(what: str, done) -> None:
        deadline = time.monotonic() + 60
        while not done(newest()):
            if time.monotonic() > deadline:
                raise SystemExit(f"the native deployment did not reach {what}")
            time.sleep(0.5)

    say("\n=== 13. a native ECS canary: web-native on the ECS deployment controller, CANARY 10%, "
        "a PAUSE hook before each production shift")
    wait("SUCCESSFUL", lambda d: d["status"] == "SUCCESSFUL")
    ecs.update_service(cluster=made["cluster"], service=service, taskDefinition=v2)
    say("released web:2 with UpdateService; ECS pauses before the first production shift")
    wait("a pause", lambda d: any(
        h["status"] == "AWAITING_ACTION" for h in d.get("lifecycleHookDetails", [])))
    tf.run("apply", "-auto-approve", "-refresh-only")
    outputs = json.loads(tf.run("output", "-json"))
    say(f"data source ecsx_service_deployments (read at every plan and refresh): waiting {outputs['waiting']['value']}")
    say(f"  newest deployment: {outputs['newest']['value']}")
    for _ in range(2):
        say("\n=== terraform apply -invoke=action.ecsx_service_deployment_continue.web")
        out = tf.run("apply", "-auto-approve", "-invoke=action.ecsx_service_deployment_continue.web")
        for line in out.splitlines():
            if "Action" in line and any(w in line for w in ("CONTINUE", "% of production", "paused again", "completed")):
                say(f"  {line.strip()}")
    d = newest()
    say(f"native deployment {d['status']}; the service runs "
        f"{ecs.describe_services(cluster=made['cluster'], services=[service])['services'][0]['taskDefinition'].split('/')[-1]}")


def diagnostics(out: str, kind: str) -> list[tuple[str, str]]:
    """(summary, detail) of each `kind` ("Warning", "Error") diagnostic Terraform printed."""
    found = []
    for block in out.split(f"{kind}: ")[1:]:
        paragraphs = [p.strip() for p in block.split("\n\n")]
        summary = paragraphs[0].splitlines()[0]
        # Skip the "with ADDRESS, on FILE line N" paragraph of the source range.
        rest = [p for p in paragraphs[1:] if p and not p.startswith("with ")]
        found.append((summary, " ".join(rest[0].split()) if rest else ""))
    return found


def cloudwatch(endpoint: str):
    import boto3

    return boto3.client(
        "cloudwatch", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )


def main() -> int:
    provider_dir = Path(os.environ.get("ECSX_PROVIDER_DIR", ROOT / "target" / "debug"))
    if not (provider_dir / "terraform-provider-ecsx").exists():
        raise SystemExit(f"build the provider first: no terraform-provider-ecsx in {provider_dir}")
    emulator, endpoint = start_emulator()
    work = Path(tempfile.mkdtemp(prefix="ecsx-demo-"))
    try:
        say(f"AWS emulator at {endpoint}; building a cluster, an EXTERNAL service, an ALB and two target groups")
        made = infra.create(endpoint, "demo")
        for f in (ROOT / "examples" / "demo").glob("*.tf"):
            shutil.copy(f, work / f.name)
        v1, v2, v3 = made["task_definitions"]
        base = {
            "endpoint": endpoint,
            "cluster": made["cluster"],
            "service": made["services"][0],
            "blue_target_group_arn": made["blue_target_group_arn"],
            "green_target_group_arn": made["green_target_group_arn"],
            "listener_arn": made["listener_arn"],
            "rule_arn": made["rule_arn"],
            "test_listener_arn": made["test_listener_arn"],
        }
        (work / "terraform.tfvars.json").write_text(
            json.dumps({**base, "subnets": made["subnets"], "security_groups": [made["security_group"]]})
        )
        tf = Terraform(work, endpoint, provider_dir)
        tf.step("1. bootstrap: web:1 is stable, 100% of traffic", {"stable_task_definition": v1})
        tf.step("2. canary web:2 at 10%", {"stable_task_definition": v1, "canary_task_definition": v2, "canary_traffic_percent": 10})
        tf.step("3. canary at 50%", {"stable_task_definition": v1, "canary_task_definition": v2, "canary_traffic_percent": 50})
        tf.step("4. promote web:2 (stable = canary, canary block removed)", {"stable_task_definition": v2})
        tf.step("5. second release: canary web:3 at 10%", {"stable_task_definition": v2, "canary_task_definition": v3, "canary_traffic_percent": 10})
        tf.step("6. roll back web:3 (canary block removed)", {"stable_task_definition": v2})
        tf.step("7. nothing changed: the plan is empty", {"stable_task_definition": v2})

        alarm = "demo-5xx"
        cloudwatch(endpoint).put_metric_alarm(
            AlarmName=alarm, Namespace="demo", MetricName="5xx", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold",
        )
        scheduled = {
            "stable_task_definition": v2, "canary_task_definition": v3,
            "canary_steps": [{"traffic_percent": 10, "pause": "20s"}, {"traffic_percent": 50, "pause": "5s"}],
            "alarm_names": [alarm], "check_interval": "1s",
        }
        tf.preview("8. scheduled release of web:3: 10% for 20s, then 50%, watching alarm demo-5xx", scheduled)
        tf.apply_until_alarm(endpoint, made["listener_arn"], alarm)
        cloudwatch(endpoint).set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="recovered")
        tf.step("9. the same configuration again: the rolled-back version is held back", scheduled)

        gated = {
            "stable_task_definition": v2, "canary_task_definition": v3, "canary_attempt": 2,
            "canary_steps": [
                {"traffic_percent": 10, "pause": "2s"},
                {"traffic_percent": 50, "approval": True},
                {"traffic_percent": 100, "pause": "2s"},
            ],
            "canary_promote": True, "alarm_names": [alarm], "check_interval": "1s",
        }
        tf.step("10. retry web:3 (attempt 2) with a manual gate before 50%, promote at the end", gated)
        tf.invoke("ecsx_canary_continue", gated)
        tf.step("11. after the action: the plan is empty (the approval is read back from the service)", gated)
        say("\n=== 12. terraform destroy: every task set goes")
        tf.run("destroy", "-auto-approve", f"-var=stable_task_definition={v2}")
        cloudwatch(endpoint).delete_alarms(AlarmNames=[alarm])
        left = infra._clients(endpoint)["ecs"].describe_task_sets(cluster=made["cluster"], service=made["services"][0])["taskSets"]
        say(f"task sets left on the service: {len(left)}")
        native_chapter(endpoint, made, provider_dir, work)
        infra.destroy(endpoint, "demo")
        say("\nThe same files run against real AWS: see examples/demo/README.md.")
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
