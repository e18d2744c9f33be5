"""Native ECS deployments for the rig: what moto 5.2.5/5.2.6 lack entirely.

Modelled from the Amazon ECS API reference (CreateService/UpdateService `deploymentConfiguration`
and `deploymentController`, ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, ContinueServiceDeployment, StopServiceDeployment):

- a service on the ECS deployment controller gets a *service revision* and a *service
  deployment* from CreateService, and another from every UpdateService that changes what runs
  (task definition, network configuration, platform version, load balancers) or forces one;
- a deployment walks the lifecycle stages of its strategy: BLUE_GREEN shifts production traffic
  in one step, CANARY in two (canaryPercent, bake canaryBakeTimeInMinutes, then the rest),
  LINEAR in steps of stepPercent (bake stepBakeTimeInMinutes between them); then
  POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME (bakeTimeInMinutes) and CLEAN_UP.  ROLLING
  deployments just finish;
- lifecycle hooks run at the stages they name; PRE_PRODUCTION_TRAFFIC_SHIFT runs before every
  production step.  A PAUSE hook waits AWAITING_ACTION until ContinueServiceDeployment
  (CONTINUE or ROLLBACK) or its timeout (timeoutInMinutes, default 1440, then its action,
  default ROLLBACK: status TIMED_OUT).  AWS_LAMBDA hooks succeed after one stage's time (the rig
  runs no Lambda).  PAUSE hooks are refused at TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT;
- a rollback (ContinueServiceDeployment ROLLBACK, a timed-out hook, StopServiceDeployment
  ROLLBACK) sends production traffic back to the source revision: ROLLBACK_IN_PROGRESS, then
  ROLLBACK_SUCCESSFUL; StopServiceDeployment ABORT stops where it is (STOPPED); stopping a
  deployment that is over is a ConflictException;
- UpdateService `deploymentController` changes: ECS->EXTERNAL is refused during a deployment and
  with Service Connect, VPC Lattice, deployment alarms, a circuit breaker or a strategy other
  than ROLLING, and leaves the running tasks in one ACTIVE (not PRIMARY) task set;
  EXTERNAL/CODE_DEPLOY->ECS (and CODE_DEPLOY->EXTERNAL) need exactly one task set, the PRIMARY
  one; after ->ECS the task sets are gone and task-set calls are refused; nothing moves to
  CODE_DEPLOY.  Service Connect and VPC Lattice show on the service's PRIMARY deployment
  (DescribeServices `deployments[].serviceConnectConfiguration` / `vpcLatticeConfigurations`).

Rig assumptions where the reference is silent (each named where it is used): a service's first
deployment runs no hooks (there is no blue revision yet); a new deployment supersedes one in
progress (STOPPED); a stage without a hook lasts `native_stage_seconds`; one emulated minute
(bake times, hook timeouts) lasts `native_minute_seconds` of real time, so tests do not wait
real minutes.
"""

from __future__ import annotations

import datetime
import itertools
import time
import uuid
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow

# Stage names (the API's ServiceDeploymentLifecycleStage / DeploymentLifecycleHookStage).
RECONCILE_SERVICE = "RECONCILE_SERVICE"
PRE_SCALE_UP = "PRE_SCALE_UP"
SCALE_UP = "SCALE_UP"
POST_SCALE_UP = "POST_SCALE_UP"
TEST_TRAFFIC_SHIFT = "TEST_TRAFFIC_SHIFT"
POST_TEST_TRAFFIC_SHIFT = "POST_TEST_TRAFFIC_SHIFT"
PRE_PRODUCTION_TRAFFIC_SHIFT = "PRE_PRODUCTION_TRAFFIC_SHIFT"
PRODUCTION_TRAFFIC_SHIFT = "PRODUCTION_TRAFFIC_SHIFT"
POST_PRODUCTION_TRAFFIC_SHIFT = "POST_PRODUCTION_TRAFFIC_SHIFT"
BAKE_TIME = "BAKE_TIME"
CLEAN_UP = "CLEAN_UP"
HOOK_STAGES = {
    RECONCILE_SERVICE, PRE_SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT,
    PRE_PRODUCTION_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT,
}
NO_PAUSE_STAGES = {TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT}
SHIFTING_STRATEGIES = {"BLUE_GREEN", "CANARY", "LINEAR"}
# Deployment statuses in which a deployment is still going on.
ONGOING = {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
DEFAULT_HOOK_TIMEOUT_MINUTES = 1440
# UpdateService parameters documented as "triggers a new service deployment" that the rig sees.
DEPLOYING_PARAMETERS = ("task_definition", "network_configuration", "platform_version",
                        "load_balancers")

# Set by install(): the emulator module (CONFIG, EcsError, moto's original calls).
EM: Any = None
_COUNTER = itertools.count(1)


def _error(code: str, message: str):
    return EM.EcsError(code, message)


def _minutes(value: float) -> float:
    return float(value) * EM.CONFIG.native_minute_seconds


def _stamp(at: float) -> datetime.datetime:
    """The wall-clock time of a monotonic instant (deadlines are kept on the monotonic clock)."""
    return utcnow() + datetime.timedelta(seconds=at - time.monotonic())


# --------------------------------------------------------------------------
# Service revisions and deployments
# --------------------------------------------------------------------------


def _revisions(backend) -> dict[str, dict]:
    if not hasattr(backend, "rig_service_revisions"):
        backend.rig_service_revisions = {}
    return backend.rig_service_revisions


def _deployments(service) -> list[dict]:
    if not hasattr(service, "rig_deployments"):
        service.rig_deployments = []
    return service.rig_deployments


def _arn(service, kind: str, ident: str) -> str:
    """arn:...:service-revision/CLUSTER/SERVICE/ID (or service-deployment/...)."""
    prefix = service.arn.split(":service/")[0]
    return f"{prefix}:{kind}/{service.cluster_name}/{service.name}/{ident}"


def _new_revision(backend, service) -> dict:
    arn = _arn(service, "service-revision", f"{next(_COUNTER)}{int(time.time() * 1000) % 10**9}")
    revision = {
        "serviceRevisionArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "taskDefinition": service.task_definition,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "loadBalancers": list(service.load_balancers or []),
        "networkConfiguration": getattr(service, "network_configuration", None) or None,
        "createdAt": utcnow(),
    }
    _revisions(backend)[arn] = revision
    return revision


def _config(service) -> dict:
    return getattr(service, "deployment_configuration", None) or {}


def _strategy(service) -> str:
    return _config(service).get("strategy") or "ROLLING"


def _controller(service) -> str:
    return (service.deployment_controller or {}).get("type", "ECS")


def _production_steps(config: dict) -> list[tuple[float, float]]:
    """(production weight of the target after the step, bake minutes after it) per step."""
    strategy = config.get("strategy") or "ROLLING"
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        return [(float(canary.get("canaryPercent", 5.0)),
                 float(canary.get("canaryBakeTimeInMinutes", 10))), (100.0, 0.0)]
    if strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step = float(linear.get("stepPercent", 10.0))
        bake = float(linear.get("stepBakeTimeInMinutes", 6))
        weights, weight = [], 0.0
        while weight < 100.0:
            weight = min(100.0, round(weight + step, 6))
            weights.append(weight)
        return [(w, bake if w < 100.0 else 0.0) for w in weights]
    return [(100.0, 0.0)]


def _timeline(config: dict, first: bool) -> list[dict]:
    """The stages a deployment walks; each: stage, bake minutes after it, production weight on
    entry.  A stage lasts native_stage_seconds (read when it is walked) plus its bake."""
    if (config.get("strategy") or "ROLLING") not in SHIFTING_STRATEGIES:
        return [{"stage": None, "bake": 0.0, "weight": 100.0}]
    entries = [{"stage": s, "bake": 0.0, "weight": None}
               for s in (PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT,
                         POST_TEST_TRAFFIC_SHIFT)]
    for weight, bake in _production_steps(config):
        entries.append({"stage": PRE_PRODUCTION_TRAFFIC_SHIFT, "bake": 0.0, "weight": None})
        entries.append({"stage": PRODUCTION_TRAFFIC_SHIFT, "bake": bake, "weight": weight})
    entries += [
        {"stage": POST_PRODUCTION_TRAFFIC_SHIFT, "bake": 0.0, "weight": None},
        {"stage": BAKE_TIME, "bake": float(config.get("bakeTimeInMinutes", 0) or 0),
         "weight": None},
        {"stage": CLEAN_UP, "bake": 0.0, "weight": None},
    ]
    if first:
        # Rig assumption: a first deployment has no blue revision, so its hooks do not run.
        for entry in entries:
            entry["no_hooks"] = True
    return entries


def _summary(revision: dict, production: float | None, test: float | None, requested: int) -> dict:
    return {
        "arn": revision["serviceRevisionArn"],
        "requestedTaskCount": requested,
        "runningTaskCount": requested,
        "pendingTaskCount": 0,
        **({"requestedProductionTrafficWeight": production} if production is not None else {}),
        **({"requestedTestTrafficWeight": test} if test is not None else {}),
    }


def start_deployment(backend, service) -> dict:
    """A new service deployment of the service's current definition."""
    now, wall = time.monotonic(), utcnow()
    ongoing = [d for d in _deployments(service) if d["status"] in ONGOING]
    for old in ongoing:
        # Rig assumption: the new deployment supersedes the one in progress.
        _finish(service, old, "STOPPED", "Superseded by a newer service deployment.")
    source = getattr(service, "rig_current_revision", None)
    target = _new_revision(backend, service)
    config = _config(service)
    deployment = {
        "serviceDeploymentArn": _arn(service, "service-deployment", uuid.uuid4().hex[:22]),
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": wall,
        "startedAt": wall,
        "updatedAt": wall,
        "status": "IN_PROGRESS",
        "source": source,
        "target": target,
        "deploymentConfiguration": config,
        "timeline": _timeline(config, first=source is None),
        "index": 0,
        "entered": now,
        "weight": 0.0 if source is not None else 100.0,
        "hooks": [],
    }
    _deployments(service).insert(0, deployment)
    service.rig_current_revision = target
    _enter(service, deployment, now)
    return deployment


def _enter(service, deployment: dict, now: float) -> None:
    entry = deployment["timeline"][deployment["index"]]
    deployment["entered"] = now
    deployment["updatedAt"] = utcnow()
    if entry["weight"] is not None:
        deployment["weight"] = entry["weight"]
    if entry.get("no_hooks") or entry["stage"] not in HOOK_STAGES:
        return
    for hook in deployment["deploymentConfiguration"].get("lifecycleHooks") or []:
        if entry["stage"] not in (hook.get("lifecycleStages") or []):
            continue
        pause = hook.get("targetType") == "PAUSE"
        timeout = hook.get("timeoutConfiguration") or {}
        minutes = timeout.get("timeoutInMinutes", DEFAULT_HOOK_TIMEOUT_MINUTES)
        deployment["hooks"].append({
            "hookId": uuid.uuid4().hex,
            "targetType": hook.get("targetType") or "AWS_LAMBDA",
            **({} if pause else {"targetArn": hook.get("hookTargetArn")}),
            "status": "AWAITING_ACTION" if pause else "IN_PROGRESS",
            "timeoutAction": timeout.get("action") or "ROLLBACK",
            "expiresAt": _stamp(now + _minutes(minutes)),
            "rig_stage_index": deployment["index"],
            "rig_deadline": now + _minutes(minutes),
            "rig_lambda_done": now + EM.CONFIG.native_stage_seconds,
        })


def _stage_hooks(deployment: dict) -> list[dict]:
    return [h for h in deployment["hooks"] if h["rig_stage_index"] == deployment["index"]]


def _finish(service, deployment: dict, status: str, reason: str | None = None) -> None:
    deployment["status"] = status
    deployment["updatedAt"] = utcnow()
    if reason:
        deployment["statusReason"] = reason
    if status == "STOPPED":
        deployment["stoppedAt"] = deployment["updatedAt"]
    else:
        deployment["finishedAt"] = deployment["updatedAt"]
    for hook in deployment["hooks"]:
        if hook["status"] in ("AWAITING_ACTION", "IN_PROGRESS"):
            hook["status"] = "FAILED"
    if status in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL"):
        _settle(service)


def _settle(service) -> None:
    """A deployment that ended leaves the service steady: every desired task running, and
    moto's own deployment entry COMPLETED (moto reports no running task and an IN_PROGRESS
    rollout for ever unless MOTO_ECS_SERVICE_RUNNING is set)."""
    service.running_count = service.desired_count
    service.pending_count = 0
    for entry in getattr(service, "deployments", None) or []:
        if entry.get("status") == "PRIMARY":
            entry.update(runningCount=service.desired_count, pendingCount=0,
                         rolloutState="COMPLETED",
                         rolloutStateReason=f"ECS deployment {entry.get('id')} completed.")


def _roll_back(service, deployment: dict, now: float, status: str = "ROLLBACK_IN_PROGRESS",
               reason: str = "") -> None:
    """Production traffic back to the source revision; the service runs the source again."""
    deployment["status"] = status
    deployment["statusReason"] = reason
    deployment["rollback_done"] = now + EM.CONFIG.native_stage_seconds
    deployment["updatedAt"] = utcnow()
    deployment["weight"] = 0.0
    for hook in deployment["hooks"]:
        if hook["status"] in ("AWAITING_ACTION", "IN_PROGRESS"):
            hook["status"] = "FAILED"
    source = deployment["source"]
    if source is not None and getattr(service, "rig_current_revision", None) is deployment["target"]:
        service.rig_current_revision = source
        service.task_definition = source["taskDefinition"]


def _advance(service, deployment: dict, now: float) -> None:
    status = deployment["status"]
    if status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED"):
        if now >= deployment.get("rollback_done", now):
            if deployment.get("abort"):
                _finish(service, deployment, "STOPPED", deployment.get("statusReason"))
            else:
                _finish(service, deployment, "ROLLBACK_SUCCESSFUL", deployment.get("statusReason"))
        elif status != "ROLLBACK_IN_PROGRESS" and not deployment.get("abort"):
            deployment["status"] = "ROLLBACK_IN_PROGRESS"
        return
    if status != "IN_PROGRESS":
        return
    while True:
        for hook in _stage_hooks(deployment):
            if hook["status"] == "IN_PROGRESS" and now >= hook["rig_lambda_done"]:
                hook["status"] = "SUCCEEDED"
            elif hook["status"] == "AWAITING_ACTION" and now >= hook["rig_deadline"]:
                hook["status"] = "TIMED_OUT"
                if hook["timeoutAction"] == "ROLLBACK":
                    _roll_back(service, deployment, now, reason=(
                        f"Lifecycle hook {hook['hookId']} timed out; rolled back."))
                    return
        if any(h["status"] in ("AWAITING_ACTION", "IN_PROGRESS") for h in _stage_hooks(deployment)):
            return
        entry = deployment["timeline"][deployment["index"]]
        seconds = EM.CONFIG.native_stage_seconds + _minutes(entry["bake"])
        if now < deployment["entered"] + seconds:
            return
        if deployment["index"] + 1 >= len(deployment["timeline"]):
            deployment["weight"] = 100.0
            _finish(service, deployment, "SUCCESSFUL")
            return
        # The next stage starts when this one ended, so a long gap between requests still
        # walks each stage in turn.
        ended = deployment["entered"] + seconds
        deployment["index"] += 1
        _enter(service, deployment, ended)


def tick(backend) -> None:
    """Advance every service deployment of the backend (called on every ECS request)."""
    now = time.monotonic()
    for service in backend.services.values():
        for deployment in _deployments(service):
            _advance(service, deployment, now)


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------


def _deployment_shape(service, deployment: dict) -> dict:
    desired = service.desired_count
    weight = deployment["weight"]
    entry = deployment["timeline"][deployment["index"]]
    shape = {k: deployment[k] for k in (
        "serviceDeploymentArn", "serviceArn", "clusterArn", "createdAt", "startedAt",
        "updatedAt", "status") if deployment.get(k) is not None}
    for k in ("statusReason", "finishedAt", "stoppedAt"):
        if deployment.get(k) is not None:
            shape[k] = deployment[k]
    shape["targetServiceRevision"] = _summary(deployment["target"], weight, None, desired)
    shape["sourceServiceRevisions"] = (
        [_summary(deployment["source"], round(100.0 - weight, 6), None, desired)]
        if deployment["source"] is not None else [])
    if entry["stage"] is not None and deployment["status"] == "IN_PROGRESS":
        shape["lifecycleStage"] = entry["stage"]
    if deployment["hooks"]:
        shape["lifecycleHookDetails"] = [
            {k: v for k, v in h.items() if not k.startswith("rig_") and v is not None}
            for h in deployment["hooks"]
        ]
    if deployment["deploymentConfiguration"]:
        shape["deploymentConfiguration"] = deployment["deploymentConfiguration"]
    return shape


def _brief(deployment: dict) -> dict:
    brief = {k: deployment[k] for k in (
        "serviceDeploymentArn", "serviceArn", "clusterArn", "createdAt", "startedAt", "status")}
    brief["targetServiceRevisionArn"] = deployment["target"]["serviceRevisionArn"]
    for k in ("statusReason", "finishedAt"):
        if deployment.get(k) is not None:
            brief[k] = deployment[k]
    return brief


def _find_deployment(backend, arn: str):
    for service in backend.services.values():
        for deployment in _deployments(service):
            if deployment["serviceDeploymentArn"] == arn:
                return service, deployment
    return None, None


# --------------------------------------------------------------------------
# New operations (EC2ContainerServiceResponse methods)
# --------------------------------------------------------------------------


def list_service_deployments(self):
    """ListServiceDeployments: newest first, status filter, maxResults/nextToken paging."""
    service = self.ecs_backend._get_service(self._get_param("cluster", "default"),
                                            self._get_param("service"))
    wanted = set(self._get_param("status") or [])
    found = [d for d in _deployments(service) if not wanted or d["status"] in wanted]
    size = int(self._get_param("maxResults") or 20)
    if not 1 <= size <= 100:
        raise _error("InvalidParameterException", "maxResults must be between 1 and 100.")
    start = int(self._get_param("nextToken") or 0)
    page = found[start:start + size]
    result = {"serviceDeployments": [_brief(d) for d in page]}
    if start + size < len(found):
        result["nextToken"] = str(start + size)
    return ActionResult(result)


def describe_service_deployments(self):
    """DescribeServiceDeployments: unknown ARNs are MISSING failures."""
    found, failures = [], []
    for arn in self._get_param("serviceDeploymentArns") or []:
        service, deployment = _find_deployment(self.ecs_backend, arn)
        if deployment is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(_deployment_shape(service, deployment))
    return ActionResult({"serviceDeployments": found, "failures": failures})


def describe_service_revisions(self):
    """DescribeServiceRevisions: unknown ARNs are MISSING failures."""
    revisions = _revisions(self.ecs_backend)
    found, failures = [], []
    for arn in self._get_param("serviceRevisionArns") or []:
        if arn in revisions:
            found.append({k: v for k, v in revisions[arn].items() if v not in (None, [])})
        else:
            failures.append({"arn": arn, "reason": "MISSING"})
    return ActionResult({"serviceRevisions": found, "failures": failures})


def continue_service_deployment(self):
    """ContinueServiceDeployment: the hook must be a PAUSE hook AWAITING_ACTION in a deployment
    in progress; CONTINUE (the default) lets the stage end, ROLLBACK rolls back."""
    arn = self._get_param("serviceDeploymentArn")
    hook_id = self._get_param("hookId")
    action = self._get_param("action") or "CONTINUE"
    if action not in ("CONTINUE", "ROLLBACK"):
        raise _error("InvalidParameterException", "action must be CONTINUE or ROLLBACK.")
    service, deployment = _find_deployment(self.ecs_backend, arn or "")
    if deployment is None:
        raise _error("ServiceDeploymentNotFoundException",
                     "The service deployment does not exist.")
    if deployment["status"] != "IN_PROGRESS":
        raise _error("InvalidParameterException",
                     f"The service deployment is {deployment['status']}, not IN_PROGRESS.")
    hook = next((h for h in deployment["hooks"] if h["hookId"] == hook_id), None)
    if hook is None:
        raise _error("InvalidParameterException",
                     f"Lifecycle hook {hook_id} does not exist in the service deployment.")
    if hook["status"] != "AWAITING_ACTION":
        raise _error("InvalidParameterException",
                     f"Lifecycle hook {hook_id} is {hook['status']}, not AWAITING_ACTION.")
    now = time.monotonic()
    if action == "CONTINUE":
        hook["status"] = "SUCCEEDED"
        deployment["updatedAt"] = utcnow()
        _advance(service, deployment, now)
    else:
        hook["status"] = "SUCCEEDED"
        _roll_back(service, deployment, now, reason=f"Rolled back at lifecycle hook {hook_id}.")
    return ActionResult({"serviceDeploymentArn": arn})


def stop_service_deployment(self):
    """StopServiceDeployment: ROLLBACK (the default) or ABORT; a deployment that is over is a
    ConflictException."""
    arn = self._get_param("serviceDeploymentArn")
    stop_type = self._get_param("stopType") or "ROLLBACK"
    if stop_type not in ("ROLLBACK", "ABORT"):
        raise _error("InvalidParameterException", "stopType must be ROLLBACK or ABORT.")
    service, deployment = _find_deployment(self.ecs_backend, arn or "")
    if deployment is None:
        raise _error("ServiceDeploymentNotFoundException",
                     "The service deployment does not exist.")
    if deployment["status"] not in ("PENDING", "IN_PROGRESS"):
        raise _error("ConflictException",
                     f"The service deployment is {deployment['status']} and cannot be stopped.")
    now = time.monotonic()
    if stop_type == "ABORT":
        deployment["abort"] = True
        deployment["status"] = "STOP_REQUESTED"
        deployment["rollback_done"] = now + EM.CONFIG.native_stage_seconds
        for hook in deployment["hooks"]:
            if hook["status"] in ("AWAITING_ACTION", "IN_PROGRESS"):
                hook["status"] = "FAILED"
    else:
        _roll_back(service, deployment, now, status="ROLLBACK_REQUESTED",
                   reason="Stopped by StopServiceDeployment.")
    return ActionResult({"serviceDeploymentArn": arn})


# --------------------------------------------------------------------------
# CreateService / UpdateService
# --------------------------------------------------------------------------


def _check_deployment_configuration(config: dict | None, controller: str) -> None:
    if not config:
        return
    strategy = config.get("strategy") or "ROLLING"
    if strategy in SHIFTING_STRATEGIES and controller != "ECS":
        raise _error("InvalidParameterException",
                     f"The {strategy} deployment strategy requires the ECS deployment controller.")
    for hook in config.get("lifecycleHooks") or []:
        stages = hook.get("lifecycleStages") or []
        if not stages:
            raise _error("InvalidParameterException", "lifecycleStages must not be empty.")
        bad = [s for s in stages if s not in HOOK_STAGES]
        if bad:
            raise _error("InvalidParameterException",
                         f"Lifecycle hooks cannot run at stage(s) {', '.join(bad)}.")
        if hook.get("targetType") == "PAUSE":
            if set(stages) & NO_PAUSE_STAGES:
                raise _error("InvalidParameterException",
                             "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or "
                             "PRODUCTION_TRAFFIC_SHIFT.")
        elif not hook.get("hookTargetArn"):
            raise _error("InvalidParameterException",
                         "hookTargetArn is required for an AWS_LAMBDA lifecycle hook.")


def _show_connectivity(service) -> None:
    """DescribeServices reports Service Connect and VPC Lattice on the service's deployments
    (Deployment.serviceConnectConfiguration, Deployment.vpcLatticeConfigurations), not on the
    service itself; moto drops both."""
    connect = getattr(service, "service_connect_configuration", None)
    lattice = getattr(service, "vpc_lattice_configurations", None)
    for deployment in getattr(service, "deployments", None) or []:
        if deployment.get("status") != "PRIMARY":
            continue
        if connect is not None:
            deployment["serviceConnectConfiguration"] = connect
        if lattice is not None:
            deployment["vpcLatticeConfigurations"] = lattice


def create_service_response(self):
    """CreateService keeps deploymentConfiguration, serviceConnectConfiguration and
    vpcLatticeConfigurations (moto drops them); a service on the ECS controller gets its first
    revision and deployment."""
    config = self._get_param("deploymentConfiguration")
    controller = (self._get_param("deploymentController") or {}).get("type", "ECS")
    _check_deployment_configuration(config, controller)
    result = EM._original_create_service_response(self)
    service = result.result["service"]
    service.deployment_configuration = config or {}
    service.service_connect_configuration = self._get_param("serviceConnectConfiguration")
    service.vpc_lattice_configurations = self._get_param("vpcLatticeConfigurations")
    _show_connectivity(service)
    if controller == "ECS":
        start_deployment(self.ecs_backend, service)
    return result


def _merged_config(service, update: dict | None) -> dict:
    merged = dict(_config(service))
    merged.update(update or {})
    return merged


def _ongoing(service) -> list[dict]:
    return [d for d in _deployments(service) if d["status"] in ONGOING]


def _live_task_sets(service) -> list:
    return [ts for ts in service.task_sets if ts.status != "DRAINING"]


def _check_controller_change(service, new: str, config: dict, props: dict) -> None:
    old = _controller(service)
    if new == old:
        return
    if new == "CODE_DEPLOY":
        raise _error("InvalidParameterException",
                     f"The deployment controller cannot be updated from {old} to CODE_DEPLOY.")
    if old == "ECS":
        if _ongoing(service):
            raise _error("InvalidParameterException",
                         "The deployment controller cannot be updated while a service "
                         "deployment is in progress.")
        connect = props.get("service_connect_configuration")
        if connect is None:
            connect = getattr(service, "service_connect_configuration", None)
        lattice = props.get("vpc_lattice_configurations")
        if lattice is None:
            lattice = getattr(service, "vpc_lattice_configurations", None)
        if (connect or {}).get("enabled"):
            raise _error("InvalidParameterException",
                         "The deployment controller cannot be updated from ECS for a service "
                         "that uses Service Connect.")
        if lattice:
            raise _error("InvalidParameterException",
                         "The deployment controller cannot be updated from ECS for a service "
                         "that uses VPC Lattice.")
        if (config.get("alarms") or {}).get("enable"):
            raise _error("InvalidParameterException",
                         "The deployment controller cannot be updated from ECS while "
                         "deployment alarms are enabled.")
        if (config.get("deploymentCircuitBreaker") or {}).get("enable"):
            raise _error("InvalidParameterException",
                         "The deployment controller cannot be updated from ECS while the "
                         "deployment circuit breaker is enabled.")
        if (config.get("strategy") or "ROLLING") != "ROLLING":
            raise _error("InvalidParameterException",
                         "The deployment controller cannot be updated from ECS while the "
                         f"deployment strategy is {config.get('strategy')}.")
        return
    live = _live_task_sets(service)
    if len(live) > 1:
        raise _error("InvalidParameterException",
                     "Updating the deployment controller is not supported when there are "
                     "multiple tasksets in the service. Please ensure your service has only "
                     "one taskset and try again.")
    if not live or live[0].status != "PRIMARY":
        raise _error("InvalidParameterException",
                     "Updating the deployment controller requires a primary taskset in the "
                     "service. Please ensure your service has a primary taskset and try again.")


def _adopt_running_tasks(backend, service) -> None:
    """After ECS->EXTERNAL: the running tasks stay, in one ACTIVE task set of the service's
    current definition, steady, which the new controller must take over or delete."""
    if not service.task_definition:
        return
    network = getattr(service, "network_configuration", None) or None
    ts = EM._original_create_task_set(
        backend, service.name, service.cluster_name, service.task_definition,
        load_balancers=list(service.load_balancers or []),
        launch_type=service.launch_type or "FARGATE",
        network_configuration=network,
        scale={"value": 100.0, "unit": "PERCENT"},
    )
    ts.status = "ACTIVE"
    ts.rig_target = service.desired_count
    ts.rig_since = time.monotonic() - 10**6
    ts.rig_from_running = service.desired_count
    ts.stabilityStatus = "STEADY_STATE"
    ts.stabilityStatusAt = utcnow()
    ts.runningCount = ts.computedDesiredCount = service.desired_count
    ts.pendingCount = 0


def update_service(self, service_properties: dict[str, Any]):
    """UpdateService: deploymentConfiguration checks, deploymentController transitions with
    their refusals and after-effects, and a new service deployment when what runs changes."""
    props = dict(service_properties)
    service = self._get_service(props.get("cluster") or "default",
                                (props.get("service") or "").split("/")[-1])
    new_controller = (props.get("deployment_controller") or {}).get("type") or _controller(service)
    config = _merged_config(service, props.get("deployment_configuration"))
    old_controller = _controller(service)
    _check_controller_change(service, new_controller, config, props)
    _check_deployment_configuration(config, new_controller)
    before = {k: getattr(service, k, None) for k in DEPLOYING_PARAMETERS}
    forced = bool(props.get("force_new_deployment"))
    if props.get("deployment_configuration") is not None:
        service_properties["deployment_configuration"] = config
    updated = EM._original_update_service(self, service_properties)
    _show_connectivity(updated)
    if new_controller != old_controller:
        if new_controller == "EXTERNAL" and old_controller == "ECS":
            _adopt_running_tasks(self, updated)
        elif new_controller == "ECS":
            primary = _live_task_sets(updated)[0]
            updated.task_definition = primary.task_definition
            updated.load_balancers = list(primary.load_balancers or [])
            updated.task_sets = []
            updated.rig_current_revision = _new_revision(self, updated)
        return updated
    if new_controller != "ECS":
        return updated
    changed = any(getattr(updated, k, None) != before[k] for k in DEPLOYING_PARAMETERS)
    if changed or forced:
        start_deployment(self, updated)
    return updated


# --------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------


def install(emulator_module) -> None:
    """Patch moto's ECS backend and responses; `emulator_module` gives CONFIG, EcsError and
    moto's original calls."""
    global EM
    EM = emulator_module
    backend = emulator_module.EC2ContainerServiceBackend
    response = emulator_module.EC2ContainerServiceResponse
    EM._original_update_service = backend.update_service
    EM._original_create_service_response = response.create_service
    backend.update_service = update_service
    response.create_service = create_service_response
    response.list_service_deployments = list_service_deployments
    response.describe_service_deployments = describe_service_deployments
    response.describe_service_revisions = describe_service_revisions
    response.continue_service_deployment = continue_service_deployment
    response.stop_service_deployment = stop_service_deployment
