"""Rig tests for native ECS deployments (tests/rig/native.py): service deployments and
revisions, lifecycle stages, PAUSE hooks and their timeouts, ContinueServiceDeployment,
StopServiceDeployment and UpdateService's deploymentController transitions.  moto has none
of these calls, so every test here fails without the model.

Run: .venv/bin/python -m pytest tests/rig/test_native_deployments.py -q
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native  # noqa: E402
from test_emulator import (  # noqa: E402,F401 - fixtures
    FAST, client, ecs, elbv2, emulator, error_of, fresh, http, new_task_set, svc,
)

STAGE = 0.05  # seconds per lifecycle stage
MINUTE = 0.4  # seconds per emulated minute


@pytest.fixture(autouse=True)
def native_timings(fresh, emulator):
    assert http(emulator, "POST", "/_rig/config",
                {"native_stage_seconds": STAGE, "native_minute_seconds": MINUTE})[0] == 200


def pause_hook(stage="PRE_PRODUCTION_TRAFFIC_SHIFT", **timeout):
    hook = {"targetType": "PAUSE", "lifecycleStages": [stage]}
    if timeout:
        hook["timeoutConfiguration"] = timeout
    return hook


def canary_config(*hooks, percent=10.0, bake=0):
    return {
        "strategy": "CANARY",
        "canaryConfiguration": {"canaryPercent": percent, "canaryBakeTimeInMinutes": bake},
        "bakeTimeInMinutes": 0,
        "lifecycleHooks": list(hooks),
    }


@pytest.fixture
def native_svc(emulator, ecs, svc):
    """Service n on the ECS controller, running f:1, with a canary strategy and a PAUSE hook
    before each production traffic step."""
    ec2 = client(emulator, "ec2")
    vpc = ec2.describe_subnets(SubnetIds=[svc["subnet"]])["Subnets"][0]["VpcId"]
    group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "SecurityGroups"][0]["GroupId"]
    ecs.create_service(
        cluster="c", serviceName="n", desiredCount=2, taskDefinition=svc["tds"][0],
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [svc["subnet"]],
                                                      "securityGroups": [group]}},
        deploymentConfiguration=canary_config(pause_hook()),
    )
    first = wait_for(ecs, "n", lambda d: d["status"] == "SUCCESSFUL")
    return {**svc, "service": "n", "first": first}


def deployments(ecs, service, **kwargs):
    return ecs.list_service_deployments(cluster="c", service=service, **kwargs)[
        "serviceDeployments"]


def describe_one(ecs, arn):
    return ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def wait_for(ecs, service, predicate, timeout=10.0, arn=None):
    deadline = time.monotonic() + timeout
    while True:
        arn_now = arn or deployments(ecs, service)[0]["serviceDeploymentArn"]
        found = describe_one(ecs, arn_now)
        if predicate(found):
            return found
        assert time.monotonic() < deadline, f"gave up waiting; last seen {found}"
        time.sleep(STAGE / 2)


def waiting(found):
    return [h for h in found.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]


def release(ecs, s):
    """Deploy f:2 and wait until it pauses before its first production shift."""
    ecs.update_service(cluster="c", service="n", taskDefinition=s["tds"][1])
    return wait_for(ecs, "n", lambda d: waiting(d))


def test_first_deployment_runs_no_hooks_and_succeeds(ecs, native_svc):
    first = native_svc["first"]
    assert first["sourceServiceRevisions"] == []
    assert "lifecycleHookDetails" not in first
    assert first["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert ":service-deployment/c/n/" in first["serviceDeploymentArn"]


def test_canary_pauses_before_each_production_step_until_continued(ecs, native_svc):
    paused = release(ecs, native_svc)
    assert paused["status"] == "IN_PROGRESS"
    assert paused["lifecycleStage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    [hook] = waiting(paused)
    assert hook["targetType"] == "PAUSE" and "targetArn" not in hook
    assert hook["timeoutAction"] == "ROLLBACK"  # the documented default
    assert hook["expiresAt"] > paused["createdAt"]
    source = paused["sourceServiceRevisions"][0]
    assert source["arn"] == native_svc["first"]["targetServiceRevision"]["arn"]
    assert paused["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    time.sleep(STAGE * 4)  # nothing moves while the hook waits
    assert describe_one(ecs, paused["serviceDeploymentArn"])["lifecycleStage"] == \
        "PRE_PRODUCTION_TRAFFIC_SHIFT"

    arn = paused["serviceDeploymentArn"]
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"],
                                    action="CONTINUE")
    second = wait_for(ecs, "n", lambda d: waiting(d) and waiting(d)[0]["hookId"] != hook["hookId"],
                      arn=arn)
    assert second["lifecycleStage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    assert second["targetServiceRevision"]["requestedProductionTrafficWeight"] == 10.0
    assert second["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 90.0
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=waiting(second)[0]["hookId"])
    done = wait_for(ecs, "n", lambda d: d["status"] == "SUCCESSFUL", arn=arn)
    assert done["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert "finishedAt" in done
    service = ecs.describe_services(cluster="c", services=["n"])["services"][0]
    assert service["taskDefinition"] == native_svc["tds"][1]


def test_continue_with_rollback_rolls_back(ecs, native_svc):
    paused = release(ecs, native_svc)
    arn = paused["serviceDeploymentArn"]
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=waiting(paused)[0]["hookId"],
                                    action="ROLLBACK")
    done = wait_for(ecs, "n", lambda d: d["status"] == "ROLLBACK_SUCCESSFUL", arn=arn)
    assert done["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    service = ecs.describe_services(cluster="c", services=["n"])["services"][0]
    assert service["taskDefinition"] == native_svc["tds"][0]


def test_pause_times_out_into_its_default_rollback(ecs, native_svc):
    ecs.update_service(cluster="c", service="n", deploymentConfiguration=canary_config(
        pause_hook(timeoutInMinutes=1)))
    paused = release(ecs, native_svc)
    done = wait_for(ecs, "n", lambda d: d["status"] == "ROLLBACK_SUCCESSFUL",
                    arn=paused["serviceDeploymentArn"], timeout=MINUTE * 10)
    assert [h["status"] for h in done["lifecycleHookDetails"]] == ["TIMED_OUT"]


def test_pause_with_timeout_action_continue_goes_on(ecs, native_svc):
    ecs.update_service(cluster="c", service="n", deploymentConfiguration=canary_config(
        pause_hook(timeoutInMinutes=1, action="CONTINUE")))
    paused = release(ecs, native_svc)
    done = wait_for(ecs, "n", lambda d: d["status"] == "SUCCESSFUL",
                    arn=paused["serviceDeploymentArn"], timeout=MINUTE * 10)
    assert [h["status"] for h in done["lifecycleHookDetails"]] == ["TIMED_OUT", "TIMED_OUT"]


def test_continue_refusals(ecs, native_svc):
    paused = release(ecs, native_svc)
    arn = paused["serviceDeploymentArn"]
    with pytest.raises(ClientError) as unknown:
        ecs.continue_service_deployment(serviceDeploymentArn=arn + "x", hookId="h")
    assert error_of(unknown)[0] == "ServiceDeploymentNotFoundException"
    with pytest.raises(ClientError) as no_hook:
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId="nope")
    assert error_of(no_hook)[0] == "InvalidParameterException"
    hook = waiting(paused)[0]["hookId"]
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook)
    with pytest.raises(ClientError) as twice:
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook)
    assert error_of(twice)[0] == "InvalidParameterException"
    assert "not AWAITING_ACTION" in error_of(twice)[1]


def test_stop_service_deployment(ecs, native_svc):
    paused = release(ecs, native_svc)
    arn = paused["serviceDeploymentArn"]
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    done = wait_for(ecs, "n", lambda d: d["status"] == "ROLLBACK_SUCCESSFUL", arn=arn)
    assert done["lifecycleHookDetails"][0]["status"] == "FAILED"
    with pytest.raises(ClientError) as over:
        ecs.stop_service_deployment(serviceDeploymentArn=arn)
    assert error_of(over)[0] == "ConflictException"
    with pytest.raises(ClientError) as unknown:
        ecs.stop_service_deployment(serviceDeploymentArn=arn + "x")
    assert error_of(unknown)[0] == "ServiceDeploymentNotFoundException"
    aborted = release(ecs, native_svc)["serviceDeploymentArn"]
    ecs.stop_service_deployment(serviceDeploymentArn=aborted, stopType="ABORT")
    assert wait_for(ecs, "n", lambda d: d["status"] == "STOPPED", arn=aborted)["stoppedAt"]


@pytest.mark.parametrize("hook, words", [
    (pause_hook("PRODUCTION_TRAFFIC_SHIFT"), "PAUSE hooks cannot"),
    (pause_hook("TEST_TRAFFIC_SHIFT"), "PAUSE hooks cannot"),
    ({"targetType": "AWS_LAMBDA", "lifecycleStages": ["POST_SCALE_UP"]}, "hookTargetArn"),
    (pause_hook("SCALE_UP"), "cannot run at stage"),
])
def test_lifecycle_hook_refusals(ecs, native_svc, hook, words):
    with pytest.raises(ClientError) as refused:
        ecs.update_service(cluster="c", service="n", deploymentConfiguration=canary_config(hook))
    code, message, status = error_of(refused)
    assert (code, status) == ("InvalidParameterException", 400) and words in message


def test_list_pages_filters_and_describe_reports_missing(ecs, native_svc):
    arn = release(ecs, native_svc)["serviceDeploymentArn"]
    everything = deployments(ecs, "n")
    assert [d["serviceDeploymentArn"] for d in everything] == [
        arn, native_svc["first"]["serviceDeploymentArn"]]
    assert everything[0]["targetServiceRevisionArn"].startswith(
        everything[0]["serviceArn"].split(":service/")[0] + ":service-revision/c/n/")
    page = ecs.list_service_deployments(cluster="c", service="n", maxResults=1)
    assert len(page["serviceDeployments"]) == 1 and page["nextToken"]
    rest = ecs.list_service_deployments(cluster="c", service="n", nextToken=page["nextToken"])
    assert [d["serviceDeploymentArn"] for d in rest["serviceDeployments"]] == [
        native_svc["first"]["serviceDeploymentArn"]]
    assert [d["serviceDeploymentArn"] for d in deployments(ecs, "n", status=["IN_PROGRESS"])] \
        == [arn]
    answer = ecs.describe_service_deployments(serviceDeploymentArns=[arn, arn + "x"])
    assert answer["failures"] == [{"arn": arn + "x", "reason": "MISSING"}]
    revision = everything[0]["targetServiceRevisionArn"]
    revisions = ecs.describe_service_revisions(serviceRevisionArns=[revision])
    assert revisions["serviceRevisions"][0]["taskDefinition"] == native_svc["tds"][1]


def test_linear_and_blue_green_production_steps():
    assert native._production_steps({"strategy": "LINEAR", "linearConfiguration": {
        "stepPercent": 30.0, "stepBakeTimeInMinutes": 2}}) == [
        (30.0, 2.0), (60.0, 2.0), (90.0, 2.0), (100.0, 0.0)]
    assert native._production_steps({"strategy": "BLUE_GREEN"}) == [(100.0, 0.0)]


def test_a_new_deployment_supersedes_one_in_progress(ecs, native_svc):
    arn = release(ecs, native_svc)["serviceDeploymentArn"]
    ecs.update_service(cluster="c", service="n", forceNewDeployment=True)
    assert describe_one(ecs, arn)["status"] == "STOPPED"
    assert deployments(ecs, "n")[0]["serviceDeploymentArn"] != arn


# --------------------------------------------------------------------------
# UpdateService deploymentController transitions
# --------------------------------------------------------------------------


def refused(ecs, **kwargs) -> str:
    with pytest.raises(ClientError) as excinfo:
        ecs.update_service(cluster="c", **kwargs)
    code, message, _ = error_of(excinfo)
    assert code == "InvalidParameterException"
    return message


def test_ecs_to_external_refusals(ecs, native_svc):
    external = {"deploymentController": {"type": "EXTERNAL"}}
    assert "CANARY" in refused(ecs, service="n", **external)
    ecs.update_service(cluster="c", service="n", deploymentConfiguration={
        "strategy": "ROLLING", "lifecycleHooks": []})
    release_arn = ecs.update_service(cluster="c", service="n", taskDefinition=native_svc["tds"][1])
    assert release_arn
    assert "in progress" in refused(ecs, service="n", **external)
    wait_for(ecs, "n", lambda d: d["status"] == "SUCCESSFUL")
    for config, words in [
        ({"deploymentCircuitBreaker": {"enable": True, "rollback": True}}, "circuit breaker"),
        ({"alarms": {"alarmNames": ["a"], "enable": True, "rollback": True}}, "alarms"),
    ]:
        assert words in refused(ecs, service="n", deploymentConfiguration=config, **external)
    assert "CODE_DEPLOY" in refused(ecs, service="n", deploymentController={"type": "CODE_DEPLOY"})
    service = ecs.describe_services(cluster="c", services=["n"])["services"][0]
    assert service["deploymentController"]["type"] == "ECS" and not service.get("taskSets")


def test_ecs_to_external_leaves_the_running_tasks_in_one_active_task_set(ecs, native_svc):
    ecs.update_service(cluster="c", service="n", deploymentConfiguration={
        "strategy": "ROLLING", "lifecycleHooks": []})
    ecs.update_service(cluster="c", service="n", deploymentController={"type": "EXTERNAL"})
    [task_set] = ecs.describe_task_sets(cluster="c", service="n")["taskSets"]
    assert task_set["status"] == "ACTIVE"
    assert task_set["taskDefinition"] == native_svc["tds"][0]
    assert task_set["runningCount"] == 2
    assert task_set["stabilityStatus"] == "STEADY_STATE"


def test_external_to_ecs_needs_exactly_one_primary_task_set(ecs, svc):
    to_ecs = {"service": "s", "deploymentController": {"type": "ECS"}}
    assert "requires a primary taskset" in refused(ecs, **to_ecs)
    first = new_task_set(ecs, svc)
    assert "requires a primary taskset" in refused(ecs, **to_ecs)
    second = new_task_set(ecs, svc, td=1)
    assert "multiple tasksets" in refused(ecs, **to_ecs)
    ecs.update_service_primary_task_set(cluster="c", service="s", primaryTaskSet=first["taskSetArn"])
    ecs.delete_task_set(cluster="c", service="s", taskSet=second["taskSetArn"])
    ecs.update_service(cluster="c", **to_ecs)
    service = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    assert service["deploymentController"]["type"] == "ECS"
    assert service["taskDefinition"] == svc["tds"][0]
    assert not ecs.describe_task_sets(cluster="c", service="s")["taskSets"]
    with pytest.raises(ClientError) as task_sets_refused:
        new_task_set(ecs, svc)
    assert error_of(task_sets_refused)[0] == "InvalidParameterException"


def rolling(ecs):
    ecs.update_service(cluster="c", service="n", deploymentConfiguration={
        "strategy": "ROLLING", "lifecycleHooks": []})


def primary_deployment(ecs, service="n"):
    found = ecs.describe_services(cluster="c", services=[service])["services"][0]
    return next(d for d in found["deployments"] if d["status"] == "PRIMARY")


def test_service_connect_and_vpc_lattice_show_on_the_deployment_and_refuse_the_switch(
        ecs, native_svc):
    rolling(ecs)
    external = {"deploymentController": {"type": "EXTERNAL"}}
    ecs.update_service(cluster="c", service="n",
                       serviceConnectConfiguration={"enabled": True, "namespace": "ns"})
    assert primary_deployment(ecs)["serviceConnectConfiguration"]["enabled"] is True
    assert "Service Connect" in refused(ecs, service="n", **external)
    ecs.update_service(cluster="c", service="n", serviceConnectConfiguration={"enabled": False})
    lattice = [{"roleArn": "arn:aws:iam::123456789012:role/l", "portName": "http",
                "targetGroupArn": "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-1"}]
    ecs.update_service(cluster="c", service="n", vpcLatticeConfigurations=lattice)
    assert primary_deployment(ecs)["vpcLatticeConfigurations"][0]["portName"] == "http"
    assert "VPC Lattice" in refused(ecs, service="n", **external)
    ecs.update_service(cluster="c", service="n", vpcLatticeConfigurations=[])
    ecs.update_service(cluster="c", service="n", **external)


def test_ecs_to_external_refused_with_the_blue_green_strategy(ecs, native_svc):
    ecs.update_service(cluster="c", service="n", deploymentConfiguration={
        "strategy": "BLUE_GREEN", "lifecycleHooks": []})
    wait_for(ecs, "n", lambda d: d["status"] not in native.ONGOING)
    message = refused(ecs, service="n", deploymentController={"type": "EXTERNAL"})
    assert "BLUE_GREEN" in message


def test_the_adopted_task_set_keeps_the_service_load_balancers(ecs, elbv2, native_svc):
    ec2 = client(ecs.meta.endpoint_url, "ec2")
    vpc = ec2.describe_subnets(SubnetIds=[native_svc["subnet"]])["Subnets"][0]["VpcId"]
    tg = elbv2.create_target_group(Name="arrive", Protocol="HTTP", Port=80, VpcId=vpc,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    lb = {"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}
    ecs.update_service(cluster="c", service="n", loadBalancers=[lb],
                       deploymentConfiguration={"strategy": "ROLLING", "lifecycleHooks": []})
    wait_for(ecs, "n", lambda d: d["status"] == "SUCCESSFUL")
    ecs.update_service(cluster="c", service="n", deploymentController={"type": "EXTERNAL"})
    service = ecs.describe_services(cluster="c", services=["n"])["services"][0]
    [task_set] = service["taskSets"]
    assert service["deploymentController"]["type"] == "EXTERNAL"
    assert task_set["status"] == "ACTIVE"
    assert task_set["loadBalancers"] == [lb]
    assert task_set["scale"] == {"value": 100.0, "unit": "PERCENT"}
    # The controller (ecsx) takes it over: PRIMARY, and the service then runs its definition.
    ecs.update_service_primary_task_set(cluster="c", service="n",
                                        primaryTaskSet=task_set["taskSetArn"])
    [after] = ecs.describe_task_sets(cluster="c", service="n")["taskSets"]
    assert after["status"] == "PRIMARY"


def test_a_deployment_that_ended_leaves_every_task_running(ecs, native_svc):
    service = ecs.describe_services(cluster="c", services=["n"])["services"][0]
    assert (service["runningCount"], service["pendingCount"]) == (2, 0)
    assert primary_deployment(ecs)["rolloutState"] == "COMPLETED"
