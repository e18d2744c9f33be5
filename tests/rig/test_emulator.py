"""Tests for the patched moto launcher: each asserts one real-AWS behaviour
that plain moto 5.2.6 gets wrong, so removing a patch makes a test fail.

Run: .venv/bin/python -m pytest tests/rig -q
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

RIG = Path(__file__).resolve().parent
sys.path.insert(0, str(RIG))
import infra  # noqa: E402
from emulator import RigConfig  # noqa: E402

STABILIZE = 1.0  # seconds; set through the admin endpoint for every test
DRAIN = 1.0
FAST = {
    "stabilize_seconds": STABILIZE,
    "drain_seconds": DRAIN,
    "never_stable_task_definitions": [],
    **RigConfig.SWITCHES,
    # the stale window is off unless a test asks for it, so timings above stay exact
    "stale_stability_seconds": 0.0,
}


# --------------------------------------------------------------------------
# launcher fixtures
# --------------------------------------------------------------------------


def start_emulator(*extra: str, timeout: float = 30.0):
    """Start emulator.py --port 0; return (process, port, log directory)."""
    logs = tempfile.TemporaryDirectory(prefix="ecsx-emulator-")
    out = open(os.path.join(logs.name, "stdout"), "w+b")
    err = open(os.path.join(logs.name, "stderr"), "w+b")
    proc = subprocess.Popen(
        [sys.executable, str(RIG / "emulator.py"), "--port", "0", *extra],
        stdout=out,
        stderr=err,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out.seek(0)
        first = out.readline().decode()
        if first.endswith("\n"):
            assert first.startswith("READY "), first
            return proc, int(first.split()[1]), logs
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    err.seek(0)
    raise RuntimeError(f"emulator did not get READY: {err.read().decode()[-2000:]}")


def stop_emulator(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture(scope="session")
def emulator():
    proc, port, logs = start_emulator("--quiet")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_emulator(proc)
        logs.cleanup()


def http(endpoint: str, method: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        endpoint + path, data=data, method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(autouse=True)
def fresh(emulator):
    """Empty moto state and fast timings for every test."""
    assert http(emulator, "POST", "/moto-api/reset")[0] == 200
    assert http(emulator, "POST", "/_rig/config", FAST) == (200, FAST)


@functools.lru_cache(maxsize=None)
def client(endpoint: str, name: str):
    return boto3.client(
        name,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def ecs(emulator):
    return client(emulator, "ecs")


@pytest.fixture
def elbv2(emulator):
    return client(emulator, "elbv2")


@pytest.fixture
def svc(emulator, ecs):
    """Cluster c, service s (EXTERNAL, desiredCount 2), task definitions f:1, f:2,
    and a subnet in a VPC with DNS hostnames for the awsvpc task sets."""
    ec2 = client(emulator, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    ecs.create_cluster(clusterName="c")
    tds = [
        ecs.register_task_definition(
            family="f",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "web", "image": "nginx", "memory": mem,
                 "portMappings": [{"containerPort": 8080}]}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        for mem in (256, 384)
    ]
    ecs.create_service(
        cluster="c", serviceName="s", desiredCount=2,
        deploymentController={"type": "EXTERNAL"},
    )
    return {"cluster": "c", "service": "s", "tds": tds, "subnet": subnet}


@pytest.fixture
def infrastructure(emulator):
    return infra.create(emulator, "rig")


def new_task_set(ecs, svc, td=0, percent=100, **kwargs):
    return ecs.create_task_set(
        cluster=svc["cluster"], service=svc["service"],
        taskDefinition=svc["tds"][td], launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [svc["subnet"]]}},
        scale={"value": percent, "unit": "PERCENT"}, **kwargs,
    )["taskSet"]


def describe(ecs, svc, *ids):
    kwargs = {"taskSets": list(ids)} if ids else {}
    return ecs.describe_task_sets(cluster=svc["cluster"], service=svc["service"], **kwargs)


def error_of(excinfo) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


# --------------------------------------------------------------------------
# launcher and admin interface
# --------------------------------------------------------------------------


def test_launcher_prints_ready_and_stops_on_sigterm():
    started = time.monotonic()
    proc, port, logs = start_emulator("--stabilize-seconds", "7", "--drain-seconds", "3")
    try:
        assert time.monotonic() - started < 15
        status, config = http(f"http://127.0.0.1:{port}", "GET", "/_rig/config")
        assert status == 200
        assert config["stabilize_seconds"] == 7.0 and config["drain_seconds"] == 3.0
    finally:
        assert stop_emulator(proc) == 0
        logs.cleanup()


def test_admin_config_roundtrip(emulator):
    assert http(emulator, "GET", "/_rig/config") == (200, FAST)
    status, body = http(emulator, "POST", "/_rig/config", {"drain_seconds": 5})
    assert status == 200 and body["drain_seconds"] == 5.0
    assert body["stabilize_seconds"] == STABILIZE
    assert http(emulator, "POST", "/_rig/config", {"bogus": 1})[0] == 400
    assert http(emulator, "POST", "/_rig/config", {"drain_seconds": -1})[0] == 400
    status, body = http(emulator, "DELETE", "/_rig/config")
    assert status == 200 and body["drain_seconds"] == 2.0  # session's CLI default


# --------------------------------------------------------------------------
# ECS task sets
# --------------------------------------------------------------------------


def test_create_task_set_client_token_is_idempotent(ecs, svc):
    first = new_task_set(ecs, svc, clientToken="token-1")
    again = new_task_set(ecs, svc, clientToken="token-1")
    other = new_task_set(ecs, svc, clientToken="token-2")
    assert again["taskSetArn"] == first["taskSetArn"]
    assert other["taskSetArn"] != first["taskSetArn"]
    assert len(describe(ecs, svc)["taskSets"]) == 2


def test_create_task_set_refused_on_inactive_service(ecs, svc):
    ecs.delete_service(cluster="c", service="s", force=True)
    with pytest.raises(ClientError) as excinfo:
        new_task_set(ecs, svc)
    assert error_of(excinfo) == ("ServiceNotActiveException", "Service was not ACTIVE.", 400)


def test_create_task_set_refused_without_external_controller(ecs, svc):
    ecs.create_service(cluster="c", serviceName="ecs-controlled", desiredCount=1,
                       taskDefinition=svc["tds"][0])
    with pytest.raises(ClientError) as excinfo:
        new_task_set(ecs, {**svc, "service": "ecs-controlled"})
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "EXTERNAL deployment controller" in message


def test_sixth_task_set_is_refused_draining_ones_count(ecs, svc):
    sets = [new_task_set(ecs, svc, percent=0) for _ in range(5)]
    ecs.delete_task_set(cluster="c", service="s", taskSet=sets[0]["taskSetArn"])
    with pytest.raises(ClientError) as excinfo:
        new_task_set(ecs, svc)
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "5 deployments exist on the service. Unable to create new TaskSet since "
        "this exceeds the maximum limit.",
        400,
    )
    time.sleep(DRAIN + 0.2)  # once drained, there is room again
    new_task_set(ecs, svc)


def test_update_primary_task_set_by_id_or_arn(ecs, svc):
    blue = new_task_set(ecs, svc, td=0)
    green = new_task_set(ecs, svc, td=1, percent=0)
    result = ecs.update_service_primary_task_set(
        cluster="c", service="s", primaryTaskSet=blue["id"])["taskSet"]
    assert result["taskSetArn"] == blue["taskSetArn"]
    status = {t["id"]: t["status"] for t in describe(ecs, svc)["taskSets"]}
    assert status == {blue["id"]: "PRIMARY", green["id"]: "ACTIVE"}

    ecs.update_service_primary_task_set(
        cluster="c", service="s", primaryTaskSet=green["taskSetArn"])
    status = {t["id"]: t["status"] for t in describe(ecs, svc)["taskSets"]}
    assert status == {blue["id"]: "ACTIVE", green["id"]: "PRIMARY"}
    service = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    assert service["taskDefinition"] == svc["tds"][1]


def test_delete_primary_task_set_needs_force(ecs, svc):
    primary = new_task_set(ecs, svc)
    ecs.update_service_primary_task_set(cluster="c", service="s", primaryTaskSet=primary["id"])
    with pytest.raises(ClientError) as excinfo:
        ecs.delete_task_set(cluster="c", service="s", taskSet=primary["id"])
    assert error_of(excinfo) == (
        "InvalidParameterException", "Primary TaskSet cannot be deleted", 400)
    assert describe(ecs, svc)["taskSets"][0]["status"] == "PRIMARY"
    deleted = ecs.delete_task_set(
        cluster="c", service="s", taskSet=primary["id"], force=True)["taskSet"]
    assert deleted["status"] == "DRAINING"


def test_deleted_task_set_drains_then_disappears(ecs, svc):
    keep = new_task_set(ecs, svc, td=0)
    gone = new_task_set(ecs, svc, td=1, percent=0)
    deleted = ecs.delete_task_set(cluster="c", service="s", taskSet=gone["taskSetArn"])
    assert deleted["taskSet"]["status"] == "DRAINING"

    listed = {t["id"]: t["status"] for t in describe(ecs, svc)["taskSets"]}
    assert listed == {keep["id"]: "ACTIVE", gone["id"]: "DRAINING"}
    by_id = describe(ecs, svc, gone["id"])
    assert [t["status"] for t in by_id["taskSets"]] == ["DRAINING"]
    assert by_id["failures"] == []
    # a DRAINING task set can no longer be changed
    with pytest.raises(ClientError) as excinfo:
        ecs.update_task_set(cluster="c", service="s", taskSet=gone["id"],
                            scale={"value": 50, "unit": "PERCENT"})
    assert error_of(excinfo)[0] == "TaskSetNotFoundException"

    time.sleep(DRAIN + 0.2)
    assert [t["id"] for t in describe(ecs, svc)["taskSets"]] == [keep["id"]]
    assert describe(ecs, svc, gone["id"])["failures"] == [
        {"arn": gone["id"], "reason": "MISSING"}]


def test_stability_status_and_counts(ecs, svc):
    created = new_task_set(ecs, svc, percent=50)  # desiredCount 2 -> 1 task
    assert created["stabilityStatus"] == "STABILIZING"
    assert created["computedDesiredCount"] == 1
    assert created["runningCount"] + created["pendingCount"] == 1
    assert created["runningCount"] < 1

    time.sleep(STABILIZE + 0.2)
    steady = describe(ecs, svc)["taskSets"][0]
    assert steady["stabilityStatus"] == "STEADY_STATE"
    assert (steady["computedDesiredCount"], steady["runningCount"], steady["pendingCount"]) \
        == (1, 1, 0)

    updated = ecs.update_task_set(cluster="c", service="s", taskSet=created["id"],
                                  scale={"value": 75, "unit": "PERCENT"})["taskSet"]
    assert updated["stabilityStatus"] == "STABILIZING"
    assert updated["computedDesiredCount"] == 2  # ceil(2 * 0.75)
    assert updated["runningCount"] < 2 and updated["pendingCount"] >= 1

    time.sleep(STABILIZE + 0.2)
    steady = describe(ecs, svc)["taskSets"][0]
    assert steady["stabilityStatus"] == "STEADY_STATE"
    assert (steady["computedDesiredCount"], steady["runningCount"], steady["pendingCount"]) \
        == (2, 2, 0)

    # a new service desiredCount also sets the task set STABILIZING again
    ecs.update_service(cluster="c", service="s", desiredCount=4)
    scaled = describe(ecs, svc)["taskSets"][0]
    assert scaled["stabilityStatus"] == "STABILIZING"
    assert scaled["computedDesiredCount"] == 3  # ceil(4 * 0.75)


def test_never_stable_task_definition(emulator, ecs, svc):
    http(emulator, "POST", "/_rig/config",
         {"never_stable_task_definitions": [svc["tds"][1]]})
    new_task_set(ecs, svc, td=0)
    broken = new_task_set(ecs, svc, td=1)
    time.sleep(STABILIZE + 0.2)
    states = {t["id"]: t for t in describe(ecs, svc)["taskSets"]}
    assert states[broken["id"]]["stabilityStatus"] == "STABILIZING"
    assert states[broken["id"]]["runningCount"] == 0
    assert states[broken["id"]]["pendingCount"] == 2
    others = [t for i, t in states.items() if i != broken["id"]]
    assert others[0]["stabilityStatus"] == "STEADY_STATE"


def test_awsvpc_task_set_without_security_groups(ecs, svc):
    # AWS falls back to the VPC's default security group; moto raises a 500
    created = new_task_set(ecs, svc)  # new_task_set passes subnets only
    assert created["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [svc["subnet"]]
    tasks = ecs.list_tasks(cluster="c")["taskArns"]
    assert len(tasks) == 2


def bare_task_set(ecs, svc, **kwargs):
    """A task set as a hand-written CreateTaskSet makes it: subnets only, no security
    groups, launch type, capacity provider strategy or platform version unless given."""
    return ecs.create_task_set(
        cluster=svc["cluster"], service=svc["service"], taskDefinition=svc["tds"][0],
        networkConfiguration={"awsvpcConfiguration": {"subnets": [svc["subnet"]]}},
        **kwargs,
    )["taskSet"]


def test_describe_reports_the_vpc_default_security_group(emulator, ecs, svc):
    # AWS uses the VPC's default security group and reports it (moto: a 500, then, patched
    # only to run, an echo of the request without it)
    ec2 = client(emulator, "ec2")
    vpc = ec2.describe_subnets(SubnetIds=[svc["subnet"]])["Subnets"][0]["VpcId"]
    default = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]},
    ])["SecurityGroups"][0]["GroupId"]
    made = bare_task_set(ecs, svc, launchType="FARGATE")
    described = describe(ecs, svc, made["id"])["taskSets"][0]
    awsvpc = described["networkConfiguration"]["awsvpcConfiguration"]
    assert awsvpc["securityGroups"] == [default]
    assert made["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [default]


def test_describe_services_lists_task_sets_without_their_tags(ecs, svc):
    # AWS documents task set tags only through DescribeTaskSets include=TAGS; moto also puts
    # them into DescribeServices' taskSets, where a provider could come to rely on them
    made = bare_task_set(ecs, svc, tags=[{"key": "ecsx:deployment", "value": "c/s"}])
    for include in ([], ["TAGS"]):
        described = ecs.describe_services(
            cluster=svc["cluster"], services=[svc["service"]], include=include)["services"][0]
        listed = [t for t in described["taskSets"] if t["id"] == made["id"]]
        assert len(listed) == 1 and "tags" not in listed[0], listed
    tagged = ecs.describe_task_sets(cluster=svc["cluster"], service=svc["service"],
                                    taskSets=[made["id"]], include=["TAGS"])["taskSets"][0]
    assert tagged["tags"] == [{"key": "ecsx:deployment", "value": "c/s"}]


def test_cluster_default_capacity_provider_strategy_applies(ecs, svc):
    # AWS: neither launchType nor capacityProviderStrategy -> the cluster's default strategy
    # (EC2 without one); a task set on a strategy has no launch type (moto: EC2 always)
    no_default = describe(ecs, svc, bare_task_set(ecs, svc)["id"])["taskSets"][0]
    assert no_default["launchType"] == "EC2"
    assert no_default.get("capacityProviderStrategy", []) == []
    ecs.put_cluster_capacity_providers(
        cluster=svc["cluster"], capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    made = bare_task_set(ecs, svc, scale={"value": 100, "unit": "PERCENT"})
    described = describe(ecs, svc, made["id"])["taskSets"][0]
    assert described["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    assert "launchType" not in described
    assert described["computedDesiredCount"] == 2  # its tasks run on Fargate
    explicit = bare_task_set(ecs, svc, capacityProviderStrategy=[
        {"capacityProvider": "FARGATE", "weight": 2, "base": 1}])
    described = describe(ecs, svc, explicit["id"])["taskSets"][0]
    assert described["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 2, "base": 1}]
    assert "launchType" not in described


def test_fargate_task_set_reports_the_resolved_platform_version(ecs, svc):
    # AWS: TaskSet.platformVersion is the version the Fargate tasks run on; LATEST (or none)
    # is resolved, an explicit version kept; EC2 task sets have none (moto: "LATEST" always)
    versions = {}
    for label, kwargs in {
        "unset": {"launchType": "FARGATE"},
        "latest": {"launchType": "FARGATE", "platformVersion": "LATEST"},
        "pinned": {"launchType": "FARGATE", "platformVersion": "1.3.0"},
        "ec2": {"launchType": "EC2"},
    }.items():
        made = bare_task_set(ecs, svc, **kwargs)
        versions[label] = describe(ecs, svc, made["id"])["taskSets"][0].get("platformVersion")
        ecs.delete_task_set(cluster=svc["cluster"], service=svc["service"],
                            taskSet=made["id"], force=True)
    assert versions == {"unset": "1.4.0", "latest": "1.4.0", "pinned": "1.3.0", "ec2": None}


def test_describe_unknown_task_set_reports_missing(ecs, svc):
    known = new_task_set(ecs, svc)
    unknown_arn = known["taskSetArn"].rsplit("/", 1)[0] + "/424242"
    result = describe(ecs, svc, known["taskSetArn"], "ecs-svc/1234", unknown_arn)
    assert [t["taskSetArn"] for t in result["taskSets"]] == [known["taskSetArn"]]
    assert result["failures"] == [
        {"arn": "ecs-svc/1234", "reason": "MISSING"},
        {"arn": unknown_arn, "reason": "MISSING"},
    ]


SCALE = {"value": 50, "unit": "PERCENT"}
TASK_SET_CALLS = {
    "delete": lambda ecs, cluster, service, ts: ecs.delete_task_set(
        cluster=cluster, service=service, taskSet=ts),
    "update": lambda ecs, cluster, service, ts: ecs.update_task_set(
        cluster=cluster, service=service, taskSet=ts, scale=SCALE),
    "primary": lambda ecs, cluster, service, ts: ecs.update_service_primary_task_set(
        cluster=cluster, service=service, primaryTaskSet=ts),
}


@pytest.mark.parametrize("call", sorted(TASK_SET_CALLS))
@pytest.mark.parametrize(
    "target, expected",
    [
        (("c", "s", "ecs-svc/999"),
         ("TaskSetNotFoundException", "The specified task set does not exist.")),
        (("c", "nope", "ecs-svc/999"), ("ServiceNotFoundException", "Service not found.")),
        (("nope", "s", "ecs-svc/999"), ("ClusterNotFoundException", "Cluster not found.")),
    ],
    ids=["unknown-task-set", "unknown-service", "unknown-cluster"],
)
def test_typed_not_found_errors(ecs, svc, call, target, expected):
    new_task_set(ecs, svc)
    with pytest.raises(ClientError) as excinfo:
        TASK_SET_CALLS[call](ecs, *target)
    assert error_of(excinfo) == (*expected, 400)


def test_unhandled_error_is_json_server_exception(emulator, ecs, svc):
    # moto crashes on a task definition with memory only at task level
    ecs.register_task_definition(
        family="crash", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", containerDefinitions=[{"name": "web", "image": "nginx"}])
    body = json.dumps({"cluster": "c", "service": "s", "taskDefinition": "crash",
                       "scale": {"value": 50, "unit": "PERCENT"}}).encode()
    request = urllib.request.Request(
        emulator + "/", data=body, method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.CreateTaskSet",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/ecs/"
                             "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 500
    payload = json.loads(excinfo.value.read())
    assert payload["__type"] == "ServerException"
    assert payload["message"]


# --------------------------------------------------------------------------
# ELBv2
# --------------------------------------------------------------------------


def forward(infrastructure, blue_weight=100, green_weight=0, extra_groups=0, stickiness=None):
    groups = [
        {"TargetGroupArn": infrastructure["blue_target_group_arn"], "Weight": blue_weight},
        {"TargetGroupArn": infrastructure["green_target_group_arn"], "Weight": green_weight},
    ] + [
        {"TargetGroupArn": infrastructure["blue_target_group_arn"], "Weight": 1}
        for _ in range(extra_groups)
    ]
    config = {"TargetGroups": groups}
    if stickiness is not None:
        config["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": stickiness}
    return [{"Type": "forward", "ForwardConfig": config}]


def elb_calls(elbv2, infrastructure, actions):
    lb, listener, rule = (infrastructure["load_balancer_arn"],
                          infrastructure["listener_arn"], infrastructure["rule_arn"])
    return {
        "ModifyRule": lambda: elbv2.modify_rule(RuleArn=rule, Actions=actions),
        "ModifyListener": lambda: elbv2.modify_listener(
            ListenerArn=listener, DefaultActions=actions),
        "CreateRule": lambda: elbv2.create_rule(
            ListenerArn=listener, Priority=20, Actions=actions,
            Conditions=[{"Field": "path-pattern", "Values": ["/x/*"]}]),
        "CreateListener": lambda: elbv2.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=8081, DefaultActions=actions),
    }


INVALID_FORWARDS = {
    "weight-1000": (dict(blue_weight=1000), "less than or equal to 999"),
    "weight-negative": (dict(green_weight=-1), "greater than or equal to 0"),
    "six-target-groups": (dict(extra_groups=4), "length less than or equal to 5"),
    "stickiness-0": (dict(stickiness=0), "greater than or equal to 1"),
    "stickiness-604801": (dict(stickiness=604801), "less than or equal to 604800"),
}


@pytest.mark.parametrize("case", sorted(INVALID_FORWARDS))
def test_elbv2_forward_validation(elbv2, infrastructure, case):
    kwargs, constraint = INVALID_FORWARDS[case]
    calls = elb_calls(elbv2, infrastructure, forward(infrastructure, **kwargs))
    for operation in ("ModifyRule", "ModifyListener", "CreateRule", "CreateListener"):
        with pytest.raises(ClientError) as excinfo:
            calls[operation]()
        code, message, status = error_of(excinfo)
        assert (code, status) == ("ValidationError", 400), operation
        assert message.startswith("1 validation error detected: "), operation
        assert constraint in message, operation


def test_elbv2_valid_forward_still_accepted(elbv2, infrastructure):
    actions = forward(infrastructure, 999, 0, extra_groups=3, stickiness=604800)
    for name, call in elb_calls(elbv2, infrastructure, actions).items():
        call()
    rule = elbv2.describe_rules(RuleArns=[infrastructure["rule_arn"]])["Rules"][0]
    weights = [g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]]
    assert weights == [999, 0, 1, 1, 1]


def test_elbv2_delete_unknown_rule(elbv2, infrastructure):
    with pytest.raises(ClientError) as excinfo:
        elbv2.delete_rule(RuleArn=infrastructure["rule_arn"][:-4] + "0000")
    assert error_of(excinfo) == ("RuleNotFound", "The specified rule does not exist.", 400)
    elbv2.delete_rule(RuleArn=infrastructure["rule_arn"])
    with pytest.raises(ClientError) as excinfo:
        elbv2.delete_rule(RuleArn=infrastructure["rule_arn"])
    assert error_of(excinfo)[0] == "RuleNotFound"


# --------------------------------------------------------------------------
# infra.py
# --------------------------------------------------------------------------


def test_infra_create_and_destroy(emulator):
    cli = [sys.executable, str(RIG / "infra.py"), "--endpoint", emulator]
    made = subprocess.run([*cli, "create", "--name", "shop", "--count", "2"],
                          check=True, capture_output=True, text=True)
    out = json.loads(made.stdout)
    assert set(out) == {
        "region", "endpoint", "cluster", "cluster_arn", "services", "service_arns",
        "task_definitions", "subnets", "security_group", "vpc", "load_balancer_arn",
        "blue_target_group_arn", "green_target_group_arn", "listener_arn",
        "test_listener_arn", "rule_arn",
    }
    assert out["services"] == ["shop-1", "shop-2"]
    assert [a.rsplit(":", 1)[1] for a in out["task_definitions"]] == ["1", "2", "3"]
    assert len(out["subnets"]) == 2

    ecs, elbv2 = client(emulator, "ecs"), client(emulator, "elbv2")
    services = ecs.describe_services(cluster="shop", services=out["services"])["services"]
    assert [(s["deploymentController"]["type"], s["desiredCount"]) for s in services] \
        == [("EXTERNAL", 2)] * 2
    listener = elbv2.describe_listeners(ListenerArns=[out["listener_arn"]])["Listeners"][0]
    assert listener["Port"] == 80
    weights = {g["TargetGroupArn"]: g["Weight"]
               for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {out["blue_target_group_arn"]: 100, out["green_target_group_arn"]: 0}
    rule = elbv2.describe_rules(RuleArns=[out["rule_arn"]])["Rules"][0]
    assert rule["Priority"] == "10"

    # the realistic task set (Fargate, awsvpc, behind the blue target group) works
    task_set = ecs.create_task_set(
        cluster="shop", service="shop-1", taskDefinition=out["task_definitions"][0],
        launchType="FARGATE", clientToken="t",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": out["subnets"], "securityGroups": [out["security_group"]]}},
        loadBalancers=[{"targetGroupArn": out["blue_target_group_arn"],
                        "containerName": "web", "containerPort": 8080}],
        scale={"value": 100, "unit": "PERCENT"},
    )["taskSet"]
    assert task_set["computedDesiredCount"] == 2

    subprocess.run([*cli, "destroy", "--name", "shop"], check=True, capture_output=True)
    clusters = ecs.describe_clusters(clusters=["shop"])
    assert [c["status"] for c in clusters["clusters"]] in ([], ["INACTIVE"])
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    # destroy is idempotent
    infra.destroy(emulator, "shop")


# --------------------------------------------------------------------------
# Real-AWS behaviours of issue 10 (each test fails with its patch removed)
# --------------------------------------------------------------------------


def configure(emulator, **values):
    status, body = http(emulator, "POST", "/_rig/config", values)
    assert status == 200, body
    return body


OIDC_CONFIG = {
    "Issuer": "https://idp.example.com",
    "AuthorizationEndpoint": "https://idp.example.com/authorize",
    "TokenEndpoint": "https://idp.example.com/token",
    "UserInfoEndpoint": "https://idp.example.com/userinfo",
    "ClientId": "shop",
}


def oidc_action(**extra):
    return {"Type": "authenticate-oidc", "Order": 1,
            "AuthenticateOidcConfig": {**OIDC_CONFIG, **extra}}


def test_oidc_client_secret_is_never_described_and_modify_needs_it(elbv2, infrastructure):
    forward_action = {**forward(infrastructure, 90, 10)[0], "Order": 2}
    made = elbv2.create_rule(
        ListenerArn=infrastructure["listener_arn"], Priority=30,
        Conditions=[{"Field": "path-pattern", "Values": ["/login/*"]}],
        Actions=[oidc_action(ClientSecret="s3cret"), forward_action],
    )["Rules"][0]
    described = elbv2.describe_rules(RuleArns=[made["RuleArn"]])["Rules"][0]["Actions"]
    config = described[0]["AuthenticateOidcConfig"]
    assert "ClientSecret" not in config and config["ClientId"] == "shop"

    # Sending back what was described is refused: the secret is missing.
    with pytest.raises(ClientError) as excinfo:
        elbv2.modify_rule(RuleArn=made["RuleArn"], Actions=described)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationError", 400) and "ClientSecret" in message
    # ... unless it asks to keep the secret the rule has.
    kept = [{**described[0], "AuthenticateOidcConfig": {
        **config, "UseExistingClientSecret": True}}, described[1]]
    elbv2.modify_rule(RuleArn=made["RuleArn"], Actions=kept)
    # Listeners behave the same; a create must carry the secret.
    with pytest.raises(ClientError) as excinfo:
        elbv2.modify_listener(ListenerArn=infrastructure["listener_arn"],
                              DefaultActions=[oidc_action(), forward_action])
    assert error_of(excinfo)[0] == "ValidationError"
    with pytest.raises(ClientError) as excinfo:
        elbv2.create_rule(
            ListenerArn=infrastructure["listener_arn"], Priority=31,
            Conditions=[{"Field": "path-pattern", "Values": ["/x/*"]}],
            Actions=[oidc_action(UseExistingClientSecret=True), forward_action])
    assert error_of(excinfo)[0] == "ValidationError"


def test_elb_describe_answers_page_one_item_at_a_time(emulator, elbv2, infrastructure):
    configure(emulator, elb_page_size=1)
    listener = infrastructure["listener_arn"]
    for priority in (40, 41):
        elbv2.create_rule(
            ListenerArn=listener, Priority=priority, Actions=forward(infrastructure),
            Conditions=[{"Field": "path-pattern", "Values": [f"/p{priority}/*"]}])
    first = elbv2.describe_rules(ListenerArn=listener)
    assert len(first["Rules"]) == 1 and first["NextMarker"]
    assert [r["RuleArn"] for r in infra._pages(
        elbv2.describe_rules, "Rules", ListenerArn=listener)].__len__() == 4  # + default
    pairs = [infrastructure["listener_arn"], infrastructure["test_listener_arn"]]
    page = elbv2.describe_listeners(ListenerArns=pairs)
    assert len(page["Listeners"]) == 1 and page["NextMarker"]
    assert {l["ListenerArn"] for l in infra._pages(
        elbv2.describe_listeners, "Listeners", ListenerArns=pairs)} == set(pairs)
    groups = elbv2.describe_target_groups()
    assert len(groups["TargetGroups"]) == 1 and groups["NextMarker"]
    with pytest.raises(ClientError):
        elbv2.describe_rules(ListenerArn=listener, Marker="not-a-marker")


def test_target_group_load_balancers_follow_what_forwards_to_it(elbv2, infrastructure):
    """LoadBalancerArns name each load balancer forwarding to the target group now, once:
    after a ModifyRule adds or drops it and after a DeleteRule (moto: only at Create*, with
    repeats)."""
    lb, listener = infrastructure["load_balancer_arn"], infrastructure["listener_arn"]
    spare = elbv2.create_target_group(
        Name="rig-spare", Protocol="HTTP", Port=80, VpcId=infra_vpc(elbv2, infrastructure),
        TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]

    def balancers(arn):
        return elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0][
            "LoadBalancerArns"]

    blue = infrastructure["blue_target_group_arn"]
    assert balancers(blue) == [lb]  # the listener, the test listener and a rule: once
    assert balancers(spare) == []
    rule = infrastructure["rule_arn"]
    spared = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue, "Weight": 100}, {"TargetGroupArn": spare, "Weight": 0}]}}]
    elbv2.modify_rule(RuleArn=rule, Actions=spared)
    assert balancers(spare) == [lb]
    only = elbv2.create_rule(
        ListenerArn=listener, Priority=60, Actions=[{"Type": "forward",
                                                     "TargetGroupArn": spare}],
        Conditions=[{"Field": "path-pattern", "Values": ["/spare/*"]}])["Rules"][0]["RuleArn"]
    elbv2.modify_rule(RuleArn=rule, Actions=forward(infrastructure))
    assert balancers(spare) == [lb]
    elbv2.delete_rule(RuleArn=only)
    assert balancers(spare) == []
    listed = {g["TargetGroupArn"]: g["LoadBalancerArns"]
              for g in elbv2.describe_target_groups()["TargetGroups"]}
    assert listed[spare] == [] and listed[blue] == [lb]


def infra_vpc(elbv2, infrastructure) -> str:
    blue = infrastructure["blue_target_group_arn"]
    return elbv2.describe_target_groups(TargetGroupArns=[blue])["TargetGroups"][0]["VpcId"]


def test_elb_describe_shows_the_old_actions_for_a_while_after_modify(emulator, elbv2,
                                                                    infrastructure):
    configure(emulator, elb_stale_seconds=1.5)
    rule, listener = infrastructure["rule_arn"], infrastructure["listener_arn"]

    def weights(found, key):
        groups = found[key][0]["ForwardConfig"]["TargetGroups"]
        return sorted(g["Weight"] for g in groups)

    def rule_weights():
        return weights(elbv2.describe_rules(RuleArns=[rule])["Rules"][0], "Actions")

    def listener_weights():
        return weights(elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0],
                       "DefaultActions")

    before = rule_weights()
    elbv2.modify_rule(RuleArn=rule, Actions=forward(infrastructure, 90, 10))
    elbv2.modify_listener(ListenerArn=listener, DefaultActions=forward(infrastructure, 90, 10))
    assert rule_weights() == before and listener_weights() == before
    # A second write while the first is not shown yet: the old actions are still what shows.
    elbv2.modify_rule(RuleArn=rule, Actions=forward(infrastructure, 50, 50))
    assert rule_weights() == before
    time.sleep(1.7)
    assert rule_weights() == [50, 50]
    assert listener_weights() == [10, 90]
    configure(emulator, elb_stale_seconds=0)
    elbv2.modify_rule(RuleArn=rule, Actions=forward(infrastructure, 100, 0))
    assert rule_weights() == [0, 100]


def test_stale_stability_after_create_and_update(emulator, ecs, svc):
    configure(emulator, stale_stability_seconds=1.5, stabilize_seconds=0.5)
    ts = new_task_set(ecs, svc)
    seen = describe(ecs, svc, ts["id"])["taskSets"][0]
    # Not computed yet: no counts, dated at creation.
    assert (seen["stabilityStatus"], seen["computedDesiredCount"], seen["runningCount"]) \
        == ("STABILIZING", 0, 0)
    assert seen["stabilityStatusAt"] == seen["createdAt"]
    time.sleep(1.7)
    seen = describe(ecs, svc, ts["id"])["taskSets"][0]
    assert (seen["stabilityStatus"], seen["computedDesiredCount"], seen["runningCount"]) \
        == ("STEADY_STATE", 2, 2)
    assert seen["stabilityStatusAt"] > seen["createdAt"]

    updated = ecs.update_task_set(cluster="c", service="s", taskSet=ts["id"],
                                  scale={"value": 50, "unit": "PERCENT"})["taskSet"]
    seen = describe(ecs, svc, ts["id"])["taskSets"][0]
    # The old status and counts, older than the write.
    assert (seen["stabilityStatus"], seen["computedDesiredCount"], seen["runningCount"]) \
        == ("STEADY_STATE", 2, 2)
    assert seen["stabilityStatusAt"] < updated["updatedAt"]
    listed = ecs.describe_services(cluster="c", services=["s"])["services"][0]["taskSets"]
    assert listed[0]["computedDesiredCount"] == 2
    time.sleep(1.7)
    seen = describe(ecs, svc, ts["id"])["taskSets"][0]
    assert (seen["stabilityStatus"], seen["computedDesiredCount"], seen["runningCount"]) \
        == ("STEADY_STATE", 1, 1)
    assert seen["stabilityStatusAt"] > updated["updatedAt"]


def test_a_scale_that_keeps_the_task_count_may_keep_the_old_steady_state(emulator, ecs, svc):
    # ECS does not document a new stability computation after an UpdateTaskSet that leaves
    # computedDesiredCount as it was; with the switch off the rig keeps the old STEADY_STATE.
    configure(emulator, stale_stability_seconds=0, stabilize_seconds=0.3,
              restabilize_unchanged_count=False)
    ts = new_task_set(ecs, svc)  # desiredCount 2 at 100% -> 2 tasks
    time.sleep(0.5)
    before = describe(ecs, svc, ts["id"])["taskSets"][0]
    assert before["stabilityStatus"] == "STEADY_STATE"
    updated = ecs.update_task_set(cluster="c", service="s", taskSet=ts["id"],
                                  scale={"value": 60, "unit": "PERCENT"})["taskSet"]
    time.sleep(0.5)
    seen = describe(ecs, svc, ts["id"])["taskSets"][0]
    assert (seen["stabilityStatus"], seen["computedDesiredCount"], seen["runningCount"]) \
        == ("STEADY_STATE", 2, 2)  # ceil(2 * 0.6) = 2: nothing to start or stop
    assert seen["stabilityStatusAt"] == before["stabilityStatusAt"] < updated["updatedAt"]
    # A scale that changes the count still stabilizes anew.
    ecs.update_task_set(cluster="c", service="s", taskSet=ts["id"],
                        scale={"value": 40, "unit": "PERCENT"})
    time.sleep(0.5)
    seen = describe(ecs, svc, ts["id"])["taskSets"][0]
    assert seen["computedDesiredCount"] == 1
    assert seen["stabilityStatusAt"] > updated["updatedAt"]


def test_steady_at_once_is_still_dated_after_the_write(emulator, ecs, svc):
    # ECS recomputes stability after a write; with no stabilizing time the emulator may do it
    # in the write's own millisecond, which a reader could not tell from a stale answer.
    configure(emulator, stabilize_seconds=0)
    for _ in range(5):
        ts = new_task_set(ecs, svc)
        seen = describe(ecs, svc, ts["id"])["taskSets"][0]
        assert seen["stabilityStatus"] == "STEADY_STATE"
        assert seen["stabilityStatusAt"] > seen["updatedAt"]
        ecs.delete_task_set(cluster="c", service="s", taskSet=ts["id"], force=True)


def test_empty_service_task_sets_are_steady_at_once(ecs, svc):
    ecs.update_service(cluster="c", service="s", desiredCount=0)
    ts = new_task_set(ecs, svc)
    seen = describe(ecs, svc, ts["id"])["taskSets"][0]
    assert (seen["stabilityStatus"], seen["computedDesiredCount"],
            seen["runningCount"], seen["pendingCount"]) == ("STEADY_STATE", 0, 0, 0)


def infra_task_set(ecs, out, tg_key="blue_target_group_arn", tg=None, service=None):
    return ecs.create_task_set(
        cluster=out["cluster"], service=service or out["services"][0],
        taskDefinition=out["task_definitions"][0], launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": out["subnets"], "securityGroups": [out["security_group"]]}},
        loadBalancers=[{"targetGroupArn": tg or out[tg_key],
                        "containerName": "web", "containerPort": 8080}],
        scale={"value": 100, "unit": "PERCENT"},
    )["taskSet"]


def test_drain_lasts_the_target_groups_deregistration_delay(emulator, ecs, elbv2, infrastructure):
    configure(emulator, drain_seconds=3.0)  # what a 300 s (default) delay takes here
    out = infrastructure
    elbv2.modify_target_group_attributes(
        TargetGroupArn=out["green_target_group_arn"],
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
    slow = infra_task_set(ecs, out)
    quick = infra_task_set(ecs, out, "green_target_group_arn")
    for ts in (slow, quick):
        ecs.delete_task_set(cluster=out["cluster"], service=out["services"][0],
                            taskSet=ts["taskSetArn"], force=True)
    time.sleep(0.6)
    listed = ecs.describe_task_sets(cluster=out["cluster"], service=out["services"][0])
    assert [(t["id"], t["status"]) for t in listed["taskSets"]] == [(slow["id"], "DRAINING")]
    # still DRAINING, still counted against the limit of five
    for _ in range(4):
        infra_task_set(ecs, out)
    with pytest.raises(ClientError) as excinfo:
        infra_task_set(ecs, out)
    assert "5 deployments exist" in error_of(excinfo)[1]


def test_task_set_needs_an_associated_target_group(ecs, elbv2, infrastructure):
    out = infrastructure
    lonely = elbv2.create_target_group(
        Name="rig-lonely", Protocol="HTTP", Port=8080, VpcId=out["vpc"], TargetType="ip",
    )["TargetGroups"][0]["TargetGroupArn"]
    with pytest.raises(ClientError) as excinfo:
        infra_task_set(ecs, out, tg=lonely)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400)
    assert f"The target group with targetGroupArn {lonely} does not have an associated " \
           "load balancer." == message
    # At weight 0 in a forward it is associated.
    elbv2.modify_rule(RuleArn=out["rule_arn"], Actions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": out["blue_target_group_arn"], "Weight": 100},
                         {"TargetGroupArn": lonely, "Weight": 0}]}}])
    infra_task_set(ecs, out, tg=lonely)


def test_propagation_delay_after_create(emulator, ecs, elbv2, infrastructure):
    out = infrastructure
    configure(emulator, propagation_seconds=1.0)
    time.sleep(1.0)  # the rig's cluster is old enough now
    ecs.create_service(cluster=out["cluster"], serviceName="fresh", desiredCount=1,
                       deploymentController={"type": "EXTERNAL"})
    with pytest.raises(ClientError) as excinfo:
        infra_task_set(ecs, out, service="fresh")
    assert error_of(excinfo)[0] == "ServiceNotFoundException"
    fresh_group = elbv2.create_target_group(
        Name="rig-fresh", Protocol="HTTP", Port=8080, VpcId=out["vpc"], TargetType="ip",
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_rule(RuleArn=out["rule_arn"], Actions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": out["blue_target_group_arn"], "Weight": 100},
                         {"TargetGroupArn": fresh_group, "Weight": 0}]}}])
    with pytest.raises(ClientError) as excinfo:
        infra_task_set(ecs, out, tg=fresh_group)
    assert "does not have an associated load balancer" in error_of(excinfo)[1]
    time.sleep(1.1)
    infra_task_set(ecs, out, service="fresh")
    infra_task_set(ecs, out, tg=fresh_group)
    ecs.create_cluster(clusterName="newer")
    with pytest.raises(ClientError) as excinfo:
        ecs.create_task_set(cluster="newer", service="fresh", taskDefinition="x")
    assert error_of(excinfo)[0] in ("ClusterNotFoundException", "ServiceNotFoundException")


def test_network_load_balancer(emulator, elbv2):
    out = infra.create(emulator, "nlb", nlb=True)
    assert ":loadbalancer/net/" in out["load_balancer_arn"]
    assert ":listener/net/" in out["listener_arn"] and out["rule_arn"] == ""
    group = elbv2.describe_target_groups(
        TargetGroupArns=[out["blue_target_group_arn"]])["TargetGroups"][0]
    assert group["Protocol"] == "TCP"
    listener = elbv2.describe_listeners(ListenerArns=[out["listener_arn"]])["Listeners"][0]
    assert listener["Protocol"] == "TCP"
    config = listener["DefaultActions"][0]["ForwardConfig"]
    assert "TargetGroupStickinessConfig" not in config
    # weighted forwards work; stickiness and rules do not exist on an NLB
    elbv2.modify_listener(ListenerArn=out["listener_arn"], DefaultActions=forward(out, 90, 10))
    with pytest.raises(ClientError) as excinfo:
        elbv2.modify_listener(ListenerArn=out["listener_arn"],
                              DefaultActions=forward(out, 90, 10, stickiness=60))
    assert error_of(excinfo)[0] == "ValidationError"
    with pytest.raises(ClientError) as excinfo:
        elbv2.create_rule(ListenerArn=out["listener_arn"], Priority=5,
                          Conditions=[{"Field": "path-pattern", "Values": ["/x"]}],
                          Actions=forward(out))
    assert error_of(excinfo)[0] == "ValidationError"
    http_group = elbv2.create_target_group(
        Name="nlb-http", Protocol="HTTP", Port=80, VpcId=out["vpc"], TargetType="ip",
    )["TargetGroups"][0]["TargetGroupArn"]
    with pytest.raises(ClientError) as excinfo:
        elbv2.modify_listener(ListenerArn=out["listener_arn"], DefaultActions=[
            {"Type": "forward", "TargetGroupArn": http_group}])
    assert error_of(excinfo)[0] == "IncompatibleProtocols"
    elbv2.delete_target_group(TargetGroupArn=http_group)
    infra.destroy(emulator, "nlb")
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []


def test_write_window_counts_writes_during_a_plan(emulator, ecs, elbv2, infrastructure):
    assert http(emulator, "POST", "/_rig/window", {})[0] == 400
    status, window = http(emulator, "POST", "/_rig/window", {"name": "plan"})
    assert status == 200 and window["open"] and window["write_total"] == 0
    ecs.describe_services(cluster=infrastructure["cluster"], services=infrastructure["services"])
    elbv2.describe_rules(RuleArns=[infrastructure["rule_arn"]])
    assert http(emulator, "GET", "/_rig/window")[1]["write_total"] == 0
    elbv2.modify_rule(RuleArn=infrastructure["rule_arn"], Actions=forward(infrastructure, 90, 10))
    ts = infra_task_set(ecs, infrastructure)
    ecs.tag_resource(resourceArn=ts["taskSetArn"], tags=[{"key": "k", "value": "v"}])
    status, closed = http(emulator, "DELETE", "/_rig/window")
    assert closed["writes"] == {
        "ecs.CreateTaskSet": 1, "ecs.TagResource": 1, "elbv2.ModifyRule": 1}
    assert not closed["open"]
    # the form body was put back for moto: the modify above took effect
    rule = elbv2.describe_rules(RuleArns=[infrastructure["rule_arn"]])["Rules"][0]
    assert [g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]] == [90, 10]
    ecs.untag_resource(resourceArn=ts["taskSetArn"], tagKeys=["k"])
    assert http(emulator, "GET", "/_rig/window")[1]["write_total"] == 3


# --------------------------------------------------------------------------
# traffic model (/_rig/traffic)
# --------------------------------------------------------------------------


def traffic(emulator) -> dict:
    status, body = http(emulator, "GET", "/_rig/traffic")
    assert status == 200, body
    assert body["errors"] == [], body
    return body


def weigh(elbv2, out, routers, blue, green):
    """Forward `blue`/`green` weights on the named routers ("listener", "rule", "test")."""
    arns = {"listener": out["listener_arn"], "rule": out["rule_arn"],
            "test": out["test_listener_arn"]}
    actions = forward(out, blue, green)
    for name in routers:
        if name == "rule":
            elbv2.modify_rule(RuleArn=arns[name], Actions=actions)
        else:
            elbv2.modify_listener(ListenerArn=arns[name], DefaultActions=actions)


def steady_task_set(ecs, out, tg_key, td=0, percent=100):
    """A task set on the infra's first service, waited for until a read sees it steady."""
    ts = ecs.create_task_set(
        cluster=out["cluster"], service=out["services"][0],
        taskDefinition=out["task_definitions"][td], launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": out["subnets"], "securityGroups": [out["security_group"]]}},
        loadBalancers=[{"targetGroupArn": out[tg_key], "containerName": "web",
                        "containerPort": 8080}],
        scale={"value": percent, "unit": "PERCENT"},
    )["taskSet"]
    wait_steady(ecs, out, ts["id"])
    return ts


def wait_steady(ecs, out, task_set_id):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen = ecs.describe_task_sets(cluster=out["cluster"], service=out["services"][0],
                                      taskSets=[task_set_id])["taskSets"][0]
        if seen["stabilityStatus"] == "STEADY_STATE" and seen["pendingCount"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{task_set_id} never steady")


def promote_on_the_live_target_group(ecs, out):
    """Today's promote: A steady on blue at weight 100, then B made on blue."""
    a = steady_task_set(ecs, out, "blue_target_group_arn")
    b = ecs.create_task_set(
        cluster=out["cluster"], service=out["services"][0],
        taskDefinition=out["task_definitions"][1], launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": out["subnets"], "securityGroups": [out["security_group"]]}},
        loadBalancers=[{"targetGroupArn": out["blue_target_group_arn"],
                        "containerName": "web", "containerPort": 8080}],
        scale={"value": 100, "unit": "PERCENT"},
    )["taskSet"]
    return a, b


def test_traffic_to_a_new_task_set_on_the_live_target_group_is_a_violation(
        emulator, ecs, elbv2, infrastructure):
    out = infrastructure
    a, b = promote_on_the_live_target_group(ecs, out)
    ecs.describe_task_sets(cluster=out["cluster"], service=out["services"][0])
    seen = traffic(emulator)
    # A took the bootstrap listener's traffic while STABILIZING: nothing steady served it
    # before, so that is no violation; B shares blue with a steady A on both routers.
    got = sorted((v["task_set"], v["router"], v["share"], v["cap"]) for v in seen["violations"])
    assert got == sorted([(b["id"], out["listener_arn"], 0.5, 0.0),
                          (b["id"], out["rule_arn"], 0.5, 0.0)]), seen
    v = seen["violations"][0]
    assert (v["service"], v["task_definition"]) == (out["services"][0], b["taskDefinition"])
    assert [(m["target_group"], m["task_definitions"]) for m in seen["mixed"]] == [
        (out["blue_target_group_arn"], sorted([a["taskDefinition"], b["taskDefinition"]]))]
    assert seen["samples"] >= 3


def test_new_task_set_on_the_idle_target_group_then_shift_is_no_violation(
        emulator, ecs, elbv2, infrastructure):
    out = infrastructure
    weigh(elbv2, out, ["test"], 100, 0)  # as ecsx's bootstrap routes test traffic
    steady_task_set(ecs, out, "blue_target_group_arn")
    steady_task_set(ecs, out, "green_target_group_arn", td=1)
    weigh(elbv2, out, ["test"], 0, 100)
    weigh(elbv2, out, ["listener", "rule"], 0, 100)
    seen = traffic(emulator)
    assert (seen["violations"], seen["mixed"]) == ([], []), seen
    assert seen["samples"] > 5


def test_canary_keeps_its_weight_while_scaling_up_but_may_not_gain_any(
        emulator, ecs, elbv2, infrastructure):
    out = infrastructure
    configure(emulator, stabilize_seconds=1.5)
    weigh(elbv2, out, ["test"], 100, 0)
    steady_task_set(ecs, out, "blue_target_group_arn")
    canary = steady_task_set(ecs, out, "green_target_group_arn", td=1, percent=50)
    weigh(elbv2, out, ["listener", "rule"], 90, 10)
    ecs.update_task_set(cluster=out["cluster"], service=out["services"][0],
                        taskSet=canary["id"], scale={"value": 100, "unit": "PERCENT"})
    weigh(elbv2, out, ["listener"], 90, 10)  # the same weight again: within its cap
    assert traffic(emulator)["violations"] == []
    weigh(elbv2, out, ["rule"], 80, 20)  # more while still scaling up
    seen = traffic(emulator)
    assert [(v["task_set"], v["router"], v["share"], v["cap"]) for v in seen["violations"]] \
        == [(canary["id"], out["rule_arn"], 0.2, 0.1)], seen
    wait_steady(ecs, out, canary["id"])
    weigh(elbv2, out, ["listener", "rule"], 50, 50)  # proven again: any weight
    assert len(traffic(emulator)["violations"]) == 1
    assert traffic(emulator)["mixed"] == []


def test_traffic_model_switch_and_reset(emulator, ecs, elbv2, infrastructure):
    out = infrastructure
    configure(emulator, traffic_model=False)
    promote_on_the_live_target_group(ecs, out)
    seen = traffic(emulator)
    assert (seen["enabled"], seen["samples"], seen["violations"], seen["mixed"]) \
        == (False, 0, [], [])

    configure(emulator, traffic_model=True)
    assert http(emulator, "POST", "/moto-api/reset")[0] == 200
    out = infra.create(emulator, "rig")
    promote_on_the_live_target_group(ecs, out)
    assert len(traffic(emulator)["violations"]) == 2
    status, body = http(emulator, "DELETE", "/_rig/traffic")
    assert status == 200 and (body["samples"], body["violations"], body["mixed"]) == (0, [], [])
    # the episodes already reported stay reported: later samples do not repeat them
    weigh(elbv2, out, ["listener", "rule"], 100, 0)
    seen = traffic(emulator)
    assert (seen["violations"], seen["mixed"]) == ([], []) and seen["samples"] == 2
    assert http(emulator, "POST", "/_rig/traffic")[0] == 405


def cbor_call(endpoint: str, operation: str, body: dict) -> tuple[int, dict, dict]:
    """One CloudWatch call the way the Rust SDK sends it (Smithy RPC v2 CBOR)."""
    import cbor2

    request = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=cbor2.dumps(body), method="POST",
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
                 "Accept": "application/cbor",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261202/us-east-1/monitoring/aws4_request"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            # an operation without output (SetAlarmState, DeleteAlarms) answers an empty body
            return response.status, dict(response.headers), cbor2.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), cbor2.loads(error.read())


def test_cloudwatch_alarms_over_rpc_v2_cbor(emulator):
    """The AWS SDK for Rust talks to CloudWatch in Smithy RPC v2 CBOR, which moto 5.2.6 serves
    itself. The alarm set with boto3 reads back over CBOR, and one set over CBOR reads back
    with boto3; EvaluationState (which moto never reports) is the rig's patch."""
    cw = client(emulator, "cloudwatch")
    cw.put_metric_alarm(AlarmName="web-5xx", Namespace="rig", MetricName="5xx", Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="7 datapoints")
    status, headers, body = cbor_call(emulator, "DescribeAlarms", {"AlarmNames": ["web-5xx", "nope"]})
    assert status == 200, body
    assert headers.get("smithy-protocol") == "rpc-v2-cbor"
    [alarm] = body["MetricAlarms"]
    assert (alarm["AlarmName"], alarm["StateValue"], alarm["StateReason"]) == (
        "web-5xx", "ALARM", "7 datapoints")
    assert alarm["StateUpdatedTimestamp"].year >= 2026  # tag 1, decoded as a datetime

    status, _, body = cbor_call(emulator, "SetAlarmState", {
        "AlarmName": "web-5xx", "StateValue": "OK", "StateReason": "recovered"})
    assert status == 200, body
    assert cw.describe_alarms(AlarmNames=["web-5xx"])["MetricAlarms"][0]["StateValue"] == "OK"

    # An alarm CloudWatch cannot evaluate says so in EvaluationState.
    configure(emulator, alarm_evaluation_states={"web-5xx": "EVALUATION_ERROR"})
    status, _, body = cbor_call(emulator, "DescribeAlarms", {"AlarmNames": ["web-5xx"]})
    assert body["MetricAlarms"][0]["EvaluationState"] == "EVALUATION_ERROR"
    configure(emulator, alarm_evaluation_states={})
    status, _, body = cbor_call(emulator, "DescribeAlarms", {"AlarmNames": ["web-5xx"]})
    assert "EvaluationState" not in body["MetricAlarms"][0]

    status, _, body = cbor_call(emulator, "DeleteAlarms", {"AlarmNames": ["web-5xx"]})
    assert status == 200, body
    assert cw.describe_alarms(AlarmNames=["web-5xx"])["MetricAlarms"] == []
