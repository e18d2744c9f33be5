"""Tests for the fault-injecting proxy: each checks one behaviour the end-to-end
fault, crash and load suites rely on, through boto3 as an AWS client would see it.

Run: .venv/bin/python -m pytest tests/rig/test_proxy.py -q
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

RIG = Path(__file__).resolve().parent
sys.path.insert(0, str(RIG))
import infra  # noqa: E402
import proxy  # noqa: E402

FAST = {"stabilize_seconds": 0.0, "drain_seconds": 0.5, "never_stable_task_definitions": []}


def start_process(*argv: str, timeout: float = 30.0):
    """Start a rig script that prints READY <port>; return (process, port)."""
    logs = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=logs, text=True
    )
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline and not line:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        if proc.poll() is not None:
            break
    if not line.startswith("READY "):
        proc.kill()
        logs.seek(0)
        raise RuntimeError(f"{argv[0]} not READY ({line!r}): {logs.read()[-2000:]!r}")
    return proc, int(line.split()[1])


def stop_process(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def http(endpoint: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


# The record of operations is for the provider's calls in the e2e suites, not these tests'.
os.environ["ECSX_RIG_CALLS"] = ""


@pytest.fixture(scope="module")
def emulator():
    proc, port = start_process(str(RIG / "emulator.py"), "--port", "0", "--quiet")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def endpoint(emulator):
    """The proxy, in this process, in front of the emulator."""
    server, _ = proxy.serve(emulator)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stack(emulator, endpoint):
    """Fresh emulator state, no rules, zero counters; infrastructure made directly on the emulator."""
    assert http(emulator, "POST", "/moto-api/reset")[0] == 200
    assert http(emulator, "POST", "/_rig/config", FAST)[0] == 200
    assert http(endpoint, "POST", "/_proxy/reset")[0] == 200
    return infra.create(emulator, "px")


def client(endpoint: str, name: str, attempts: int = 1, read_timeout: float = 30):
    return boto3.client(
        name,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"total_max_attempts": attempts, "mode": "standard"},
            read_timeout=read_timeout,
            connect_timeout=5,
        ),
    )


def faults(endpoint: str, rules) -> list:
    status, body = http(endpoint, "POST", "/_proxy/faults", rules)
    assert status == 200, body
    return body


def stats(endpoint: str) -> dict:
    status, body = http(endpoint, "GET", "/_proxy/stats")
    assert status == 200
    return body


def create_task_set(ecs, st, td: int = 0, token: str | None = None, tg: str | None = None):
    extra = {"clientToken": token} if token else {}
    return ecs.create_task_set(
        cluster=st["cluster"],
        service=st["services"][0],
        taskDefinition=st["task_definitions"][td],
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": st["subnets"]}},
        loadBalancers=[{
            "targetGroupArn": tg or st["blue_target_group_arn"],
            "containerName": "web",
            "containerPort": 8080,
        }],
        scale={"value": 100.0, "unit": "PERCENT"},
        **extra,
    )["taskSet"]


def task_sets(emulator, st) -> list:
    out = client(emulator, "ecs").describe_services(cluster=st["cluster"], services=st["services"][:1])
    return out["services"][0].get("taskSets", [])


def weights(elbv2, rule_arn: str) -> list:
    rule = elbv2.describe_rules(RuleArns=[rule_arn])["Rules"][0]
    return [g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]]


def forward(st, blue: int, green: int) -> list:
    return [{
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": st["blue_target_group_arn"], "Weight": blue},
            {"TargetGroupArn": st["green_target_group_arn"], "Weight": green},
        ]},
    }]


# --------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------


def test_counts_calls_by_operation_for_json_and_query_protocols(endpoint, stack):
    ecs, elbv2 = client(endpoint, "ecs"), client(endpoint, "elbv2")
    ecs.describe_services(cluster=stack["cluster"], services=stack["services"])
    ecs.describe_services(cluster=stack["cluster"], services=stack["services"])
    elbv2.describe_rules(RuleArns=[stack["rule_arn"]])
    s = stats(endpoint)
    assert s["calls"] == {"ecs.DescribeServices": 2, "elbv2.DescribeRules": 1}
    assert s["total"] == 3
    assert s["faults"] == {} and s["retries"] == 0 and s["held"] == 0


def test_timings_and_events_record_the_emulators_answers(endpoint, stack):
    before = time.time()
    client(endpoint, "ecs").describe_services(cluster=stack["cluster"], services=stack["services"])
    client(endpoint, "elbv2").describe_rules(RuleArns=[stack["rule_arn"]])
    status, t = http(endpoint, "GET", "/_proxy/timings")
    assert status == 200 and t["forwarded"] == 2
    assert set(t["upstream_seconds"]) == {"ecs.DescribeServices", "elbv2.DescribeRules"}
    assert all(v > 0 for v in t["upstream_seconds"].values())
    assert 0 < t["busy_seconds"] <= sum(t["upstream_seconds"].values()) + 1e-6
    status, events = http(endpoint, "GET", "/_proxy/events")
    assert [e["operation"] for e in events] == ["ecs.DescribeServices", "elbv2.DescribeRules"]
    assert all(before <= e["start"] <= e["end"] <= time.time() and e["status"] == 200 for e in events)
    http(endpoint, "POST", "/_proxy/reset")
    assert http(endpoint, "GET", "/_proxy/timings")[1]["forwarded"] == 0
    assert http(endpoint, "GET", "/_proxy/events")[1] == []


def test_reset_clears_counters_and_rules(endpoint, stack):
    client(endpoint, "ecs").list_clusters()
    faults(endpoint, [{"operation": "*", "kind": "throttle"}])
    assert http(endpoint, "POST", "/_proxy/reset")[0] == 200
    assert http(endpoint, "GET", "/_proxy/faults") == (200, [])
    client(endpoint, "ecs").list_clusters()
    assert stats(endpoint)["calls"] == {"ecs.ListClusters": 1}


def test_admin_rejects_bad_rules_and_unknown_paths(endpoint, stack):
    for bad in (
        [{"kind": "explode"}],
        [{"kind": "throttle", "times": -1}],
        [{"kind": "throttle", "probability": 2}],
        [{"kind": "throttle", "times": 1, "probability": 0.5}],
        [{"kind": "throttle", "colour": "red"}],
        {"rules": "nope"},
        "throttle",
    ):
        status, body = http(endpoint, "POST", "/_proxy/faults", bad)
        assert status == 400 and "error" in body, (bad, body)
    assert http(endpoint, "GET", "/_proxy/nothing")[0] == 404


# --------------------------------------------------------------------------
# request faults
# --------------------------------------------------------------------------


def test_throttle_is_an_ecs_throttling_exception(endpoint, stack):
    faults(endpoint, [{"operation": "ecs.DescribeServices", "kind": "throttle", "times": 1}])
    ecs = client(endpoint, "ecs")
    with pytest.raises(ClientError) as err:
        ecs.describe_services(cluster=stack["cluster"], services=stack["services"])
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ecs.describe_services(cluster=stack["cluster"], services=stack["services"])  # times spent
    assert stats(endpoint)["faults"] == {"throttle": 1}


def test_throttle_is_elbv2_throttling_xml(endpoint, stack):
    faults(endpoint, [{"operation": "elbv2.*", "kind": "throttle", "times": 1}])
    with pytest.raises(ClientError) as err:
        client(endpoint, "elbv2").describe_rules(RuleArns=[stack["rule_arn"]])
    assert err.value.response["Error"]["Code"] == "Throttling"


def test_too_many_requests_is_429(endpoint, stack):
    faults(endpoint, [{"operation": "ecs.ListClusters", "kind": "too_many_requests", "times": 1}])
    with pytest.raises(ClientError) as err:
        client(endpoint, "ecs").list_clusters()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"


@pytest.mark.parametrize("kind,status,ecs_code,elb_code", [
    ("http500", 500, "ServerException", "InternalFailure"),
    ("http503", 503, "ServiceUnavailableException", "ServiceUnavailable"),
])
def test_server_errors_do_not_forward(endpoint, emulator, stack, kind, status, ecs_code, elb_code):
    faults(endpoint, [{"operation": "*", "kind": kind, "times": 2}])
    with pytest.raises(ClientError) as err:
        create_task_set(client(endpoint, "ecs"), stack)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert err.value.response["Error"]["Code"] == ecs_code
    assert task_sets(emulator, stack) == [], "the request must not reach the emulator"
    with pytest.raises(ClientError) as err:
        client(endpoint, "elbv2").describe_rules(RuleArns=[stack["rule_arn"]])
    assert err.value.response["Error"]["Code"] == elb_code


def test_sdk_retries_are_counted_from_the_attempt_header(endpoint, stack):
    faults(endpoint, [{"operation": "ecs.ListClusters", "kind": "http503", "times": 2}])
    client(endpoint, "ecs", attempts=5).list_clusters()
    s = stats(endpoint)
    assert s["calls"] == {"ecs.ListClusters": 3}
    assert s["retries"] == 2 and s["retries_by_operation"] == {"ecs.ListClusters": 2}
    assert s["faults"] == {"http503": 2}


def test_skip_lets_the_first_calls_through(endpoint, stack):
    faults(endpoint, [{"operation": "ecs.ListClusters", "kind": "throttle", "skip": 2, "times": 1}])
    ecs = client(endpoint, "ecs")
    ecs.list_clusters()
    ecs.list_clusters()
    with pytest.raises(ClientError):
        ecs.list_clusters()
    ecs.list_clusters()
    assert stats(endpoint)["faults"] == {"throttle": 1}


def test_probability_with_a_seed(endpoint, stack):
    faults(endpoint, {"seed": 7, "rules": [{"operation": "ecs.ListClusters", "kind": "throttle", "probability": 0.5}]})
    ecs = client(endpoint, "ecs")
    failed = 0
    for _ in range(40):
        try:
            ecs.list_clusters()
        except ClientError:
            failed += 1
    assert 5 < failed < 35, failed
    assert stats(endpoint)["faults"] == {"throttle": failed}


def test_reset_aborts_the_connection_without_forwarding(endpoint, emulator, stack):
    faults(endpoint, [{"operation": "ecs.CreateTaskSet", "kind": "reset", "times": 1}])
    with pytest.raises((ConnectionClosedError, ConnectionError, Exception)) as err:
        create_task_set(client(endpoint, "ecs"), stack)
    assert not isinstance(err.value, ClientError), err.value
    assert task_sets(emulator, stack) == []
    assert stats(endpoint)["faults"] == {"reset": 1}


def test_slow_answers_after_the_attempt_timeout_but_the_call_took_effect(endpoint, emulator, stack):
    faults(endpoint, [{"operation": "ecs.CreateTaskSet", "kind": "slow", "seconds": 1.5, "times": 1}])
    with pytest.raises(ReadTimeoutError):
        create_task_set(client(endpoint, "ecs", read_timeout=0.5), stack, token="slow-1")
    # The request went on to AWS at once (the client may give up before the emulator answered
    # the proxy, hence the wait); only the answer is late.
    deadline = time.monotonic() + 10
    while not task_sets(emulator, stack) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(task_sets(emulator, stack)) == 1
    # The SDK's retry (same clientToken) gets the same task set, not a second one.
    create_task_set(client(endpoint, "ecs"), stack, token="slow-1")
    assert len(task_sets(emulator, stack)) == 1


def test_after_commit_500_stores_then_fails_and_client_token_makes_the_retry_safe(endpoint, emulator, stack):
    faults(endpoint, [{"operation": "ecs.CreateTaskSet", "kind": "after_commit_500", "times": 1}])
    with pytest.raises(ClientError) as err:
        create_task_set(client(endpoint, "ecs"), stack, token="tok-1")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(task_sets(emulator, stack)) == 1, "the create took effect before the 500"

    # The SDK retrying the same request (same clientToken) gets the same task set back.
    faults(endpoint, [{"operation": "ecs.CreateTaskSet", "kind": "after_commit_500", "times": 1}])
    ts = create_task_set(client(endpoint, "ecs", attempts=3), stack, td=1, token="tok-2")
    sets = task_sets(emulator, stack)
    assert len(sets) == 2 and ts["taskSetArn"] in {t["taskSetArn"] for t in sets}
    assert stats(endpoint)["retries_by_operation"] == {"ecs.CreateTaskSet": 1}


def test_hold_after_commit_holds_the_answer_until_the_rules_change(endpoint, emulator, stack):
    faults(endpoint, [{"operation": "ecs.CreateTaskSet", "kind": "hold_after_commit", "times": 1}])
    result = {}

    def call():
        result["ts"] = create_task_set(client(endpoint, "ecs"), stack)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while stats(endpoint)["held"] != 1:
        assert time.monotonic() < deadline, stats(endpoint)
        time.sleep(0.05)
    assert len(task_sets(emulator, stack)) == 1, "committed while the answer is held"
    assert caller.is_alive()
    faults(endpoint, [])
    caller.join(10)
    assert not caller.is_alive() and result["ts"]["taskSetArn"]
    assert stats(endpoint)["held"] == 0


# --------------------------------------------------------------------------
# eventual consistency
# --------------------------------------------------------------------------


def test_hide_new_task_sets_reports_them_missing_for_a_while(endpoint, stack):
    ecs = client(endpoint, "ecs")
    old = create_task_set(ecs, stack)
    faults(endpoint, [{"operation": "ecs.DescribeTaskSets", "kind": "hide_new_task_sets", "seconds": 1.0}])
    time.sleep(1.1)  # `old` is older than the window now
    new = create_task_set(ecs, stack, td=1)
    cluster, service = stack["cluster"], stack["services"][0]

    listed = ecs.describe_task_sets(cluster=cluster, service=service)["taskSets"]
    assert [t["taskSetArn"] for t in listed] == [old["taskSetArn"]]
    asked = ecs.describe_task_sets(cluster=cluster, service=service, taskSets=[new["id"]])
    assert asked["taskSets"] == []
    assert asked["failures"] == [{"arn": new["id"], "reason": "MISSING"}]
    # DescribeServices is left alone unless the rule names it (or is "*").
    svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    assert len(svc["taskSets"]) == 2

    assert stats(endpoint)["faults"] == {"hide_new_task_sets": 2}
    time.sleep(1.1)
    listed = ecs.describe_task_sets(cluster=cluster, service=service, taskSets=[new["taskSetArn"]])
    assert [t["taskSetArn"] for t in listed["taskSets"]] == [new["taskSetArn"]]


def test_hide_with_star_also_hides_from_describe_services(endpoint, stack):
    ecs = client(endpoint, "ecs")
    faults(endpoint, [{"operation": "*", "kind": "hide_new_task_sets", "seconds": 5}])
    create_task_set(ecs, stack)
    svc = ecs.describe_services(cluster=stack["cluster"], services=stack["services"][:1])["services"][0]
    assert svc["taskSets"] == []


def test_stale_weights_show_the_previous_actions_for_a_while(endpoint, emulator, stack):
    elbv2 = client(endpoint, "elbv2")
    faults(endpoint, [{"operation": "*", "kind": "stale_weights", "seconds": 1.0}])
    elbv2.modify_rule(RuleArn=stack["rule_arn"], Actions=forward(stack, 50, 50))
    elbv2.modify_listener(ListenerArn=stack["listener_arn"], DefaultActions=forward(stack, 70, 30))
    assert weights(elbv2, stack["rule_arn"]) == [100, 0]
    listener = elbv2.describe_listeners(ListenerArns=[stack["listener_arn"]])["Listeners"][0]
    groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert [g["Weight"] for g in groups] == [100, 0]
    assert weights(client(emulator, "elbv2"), stack["rule_arn"]) == [50, 50], "AWS itself changed"
    assert stats(endpoint)["faults"] == {"stale_weights": 2}
    time.sleep(1.1)
    assert weights(elbv2, stack["rule_arn"]) == [50, 50]
    # A change that changes nothing is not served as stale.
    elbv2.modify_rule(RuleArn=stack["rule_arn"], Actions=forward(stack, 50, 50))
    assert weights(elbv2, stack["rule_arn"]) == [50, 50]
    assert stats(endpoint)["faults"] == {"stale_weights": 2}


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def test_command_line_prints_ready_and_proxies(emulator, stack):
    proc, port = start_process(str(RIG / "proxy.py"), "--upstream", emulator, "--port", "0")
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client(endpoint, "ecs").list_clusters()
        assert stats(endpoint)["calls"] == {"ecs.ListClusters": 1}
    finally:
        assert stop_process(proc) == 0


def test_limit_exceeded_is_a_quota_error_with_a_throttling_code(endpoint, stack):
    faults(endpoint, [{"operation": "ecs.CreateTaskSet", "kind": "limit_exceeded", "times": 1}])
    ecs = client(endpoint, "ecs")
    with pytest.raises(ClientError) as excinfo:
        create_task_set(ecs, stack)
    err = excinfo.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) \
        == ("LimitExceededException", 400)
    assert stats(endpoint)["faults"] == {"limit_exceeded": 1}


def test_access_denied_is_not_retried_and_speaks_each_protocol(endpoint, stack):
    faults(endpoint, [{"operation": "ecs.DescribeServices", "kind": "access_denied"},
                      {"operation": "elbv2.DescribeRules", "kind": "access_denied"}])
    with pytest.raises(ClientError) as excinfo:
        client(endpoint, "ecs").describe_services(cluster=stack["cluster"],
                                                  services=stack["services"][:1])
    assert excinfo.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as excinfo:
        client(endpoint, "elbv2").describe_rules(RuleArns=[stack["rule_arn"]])
    err = excinfo.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert stats(endpoint)["faults"] == {"access_denied": 2}, "one attempt each: no retries"
    import cbor2
    status, headers, body = proxy.error_response("access_denied", "cloudwatch.DescribeAlarms")
    assert (status, headers["smithy-protocol"]) == (403, "rpc-v2-cbor")
    assert cbor2.loads(body)["__type"] == "AccessDenied"


def test_service_not_active_fault(endpoint, stack):
    faults(endpoint, [{"operation": "ecs.DeleteTaskSet", "kind": "service_not_active"}])
    ecs = client(endpoint, "ecs")
    with pytest.raises(ClientError) as excinfo:
        ecs.delete_task_set(cluster=stack["cluster"], service=stack["services"][0],
                            taskSet="ecs-svc/1")
    assert excinfo.value.response["Error"]["Code"] == "ServiceNotActiveException"


def test_write_window_counts_writes_only_while_open(endpoint, emulator, stack):
    ecs, elbv2 = client(endpoint, "ecs"), client(endpoint, "elbv2")
    ecs.describe_services(cluster=stack["cluster"], services=stack["services"])
    status, window = http(endpoint, "POST", "/_proxy/window", {"name": "plan"})
    assert status == 200 and window["name"] == "plan" and window["open"]
    ecs.describe_services(cluster=stack["cluster"], services=stack["services"])
    elbv2.describe_rules(RuleArns=[stack["rule_arn"]])
    assert http(endpoint, "GET", "/_proxy/window")[1]["write_total"] == 0
    ts = create_task_set(ecs, stack)
    ecs.tag_resource(resourceArn=ts["taskSetArn"], tags=[{"key": "k", "value": "v"}])
    status, closed = http(endpoint, "DELETE", "/_proxy/window")
    assert closed["open"] is False
    assert closed["writes"] == {"ecs.CreateTaskSet": 1, "ecs.TagResource": 1}
    assert closed["write_total"] == 2
    assert closed["calls"]["ecs.DescribeServices"] == 1
    # closed: later writes do not count
    ecs.untag_resource(resourceArn=ts["taskSetArn"], tagKeys=["k"])
    assert http(endpoint, "GET", "/_proxy/window")[1]["write_total"] == 2
    assert http(endpoint, "POST", "/_proxy/window", {})[0] == 400
    assert [proxy.is_write(op) for op in (
        "elbv2.ModifyRule", "ecs.UpdateServicePrimaryTaskSet", "ecs.DeregisterTaskDefinition",
        "ecs.DescribeTaskSets", "elbv2.DescribeTargetGroupAttributes", "ecs.ListTagsForResource",
    )] == [True, True, True, False, False, False]


def test_forwarded_operations_are_recorded_once(tmp_path, emulator, stack):
    os.environ["ECSX_RIG_CALLS"] = str(tmp_path)
    try:
        server, state = proxy.serve(emulator)
    finally:
        os.environ["ECSX_RIG_CALLS"] = ""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        here = f"http://127.0.0.1:{server.server_address[1]}"
        ecs = client(here, "ecs")
        for _ in range(2):
            ecs.describe_services(cluster=stack["cluster"], services=stack["services"])
        client(here, "elbv2").describe_rules(RuleArns=[stack["rule_arn"]])
    finally:
        server.shutdown()
        server.server_close()
    (record,) = tmp_path.iterdir()
    assert record.read_text().split() == ["ecs.DescribeServices", "elbv2.DescribeRules"]
def test_token_bucket_allows_the_burst_then_the_refill_rate():
    now = [0.0]
    bucket = proxy.TokenBucket(3, 2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back at 2 per second
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] += 100  # never more than the capacity
    assert sum(bucket.take() for _ in range(10)) == 3


def test_rate_limits_bucket_per_operation_or_shared():
    now = [0.0]
    limits = proxy.RateLimits(
        [
            {"operation": "elbv2.Describe*", "capacity": 2, "refill": 1, "shared": True},
            {"operation": "ecs.*", "capacity": 1, "refill": 1},
        ],
        clock=lambda: now[0],
    )
    # ELBv2 Describe* share one bucket of 2.
    assert limits.allow("elbv2.DescribeRules") and limits.allow("elbv2.DescribeListeners")
    assert not limits.allow("elbv2.DescribeRules")
    # ECS: one bucket per operation.
    assert limits.allow("ecs.DescribeServices") and limits.allow("ecs.DescribeTaskSets")
    assert not limits.allow("ecs.DescribeServices")
    # Unlimited operations pass.
    assert all(limits.allow("elbv2.ModifyRule") for _ in range(10))
    with pytest.raises(proxy.RuleError):
        proxy.RateLimits([{"operation": "ecs.*", "capacity": 0, "refill": 1}])


def test_rate_limits_throttle_like_aws_and_are_counted(endpoint, stack):
    limit = {"operation": "ecs.ListClusters", "capacity": 2, "refill": 0.01}
    assert http(endpoint, "POST", "/_proxy/limits", {"limits": [limit]})[0] == 200
    ecs = client(endpoint, "ecs")
    ecs.list_clusters()
    ecs.list_clusters()
    with pytest.raises(ClientError) as err:
        ecs.list_clusters()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    elbv2 = client(endpoint, "elbv2")
    elbv2.describe_rules(RuleArns=[stack["rule_arn"]])  # not limited
    s = stats(endpoint)
    assert s["throttled"] == 1 and s["throttled_by_operation"] == {"ecs.ListClusters": 1}
    assert s["calls"]["ecs.ListClusters"] == 3 and s["faults"] == {}
    # The SDK's retries meet the same bucket.
    with pytest.raises(ClientError):
        client(endpoint, "ecs", attempts=3).list_clusters()
    assert stats(endpoint)["throttled"] == 4
    # The AWS preset, and reset clears the limits.
    status, specs = http(endpoint, "POST", "/_proxy/limits", {"preset": "aws"})
    assert status == 200 and specs == proxy.AWS_LIMITS
    assert http(endpoint, "POST", "/_proxy/limits", {"limits": [{"capacity": 1}]})[0] == 400
    assert http(endpoint, "POST", "/_proxy/reset")[0] == 200
    assert http(endpoint, "GET", "/_proxy/limits") == (200, [])
