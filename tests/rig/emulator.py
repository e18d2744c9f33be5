#!/usr/bin/env python3
"""AWS emulator for the ecsx end-to-end tests: moto's server with its gaps closed.

moto 5.2.5 models ECS task sets and ELBv2 forward actions loosely: PRIMARY
task sets deletable, no task set limit, no STABILIZING or DRAINING, ids ignored
by UpdateServicePrimaryTaskSet, no ELBv2 validation.  This launcher patches moto's classes in-process so
that the provider meets real AWS behaviour: refusals, limits, DRAINING task
sets and a STABILIZING period.  Every patch below is one small function with
a comment naming the real-AWS behaviour it restores.

Usage:
    python tests/rig/emulator.py --port 0 [--host 127.0.0.1]
                                 [--stabilize-seconds 2] [--drain-seconds 2]
                                 [--never-stable TASK_DEFINITION_ARN ...] [--quiet]

Prints exactly one line ``READY <port>`` on stdout when it accepts
connections, then serves until SIGTERM/SIGINT.

Admin endpoint (same port):
    GET    /_rig/config  -> current settings as JSON
    POST   /_rig/config  <- JSON with any of stabilize_seconds, drain_seconds,
                            never_stable_task_definitions; returns the result
    DELETE /_rig/config  -> restore the settings given on the command line
moto's own ``POST /moto-api/reset`` keeps working (settings survive it).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import math
import signal
import sys
import threading
import time
import traceback
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskSet
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.exceptions import RuleNotFoundError
from moto.elbv2.models import ELBv2Backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
MAX_TASK_SETS_PER_SERVICE = 5


# --------------------------------------------------------------------------
# Runtime settings (changed through /_rig/config)
# --------------------------------------------------------------------------


class RigConfig:
    """Timing knobs of the emulated ECS scheduler."""

    def __init__(
        self,
        stabilize_seconds: float = 2.0,
        drain_seconds: float = 2.0,
        never_stable_task_definitions: list[str] | None = None,
    ):
        self.stabilize_seconds = float(stabilize_seconds)
        self.drain_seconds = float(drain_seconds)
        self.never_stable_task_definitions = list(never_stable_task_definitions or [])
        self._initial = self.as_dict()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stabilize_seconds": self.stabilize_seconds,
            "drain_seconds": self.drain_seconds,
            "never_stable_task_definitions": list(self.never_stable_task_definitions),
        }

    def update(self, values: dict[str, Any]) -> None:
        unknown = set(values) - set(self._initial)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        stabilize = float(values.get("stabilize_seconds", self.stabilize_seconds))
        drain = float(values.get("drain_seconds", self.drain_seconds))
        never = values.get(
            "never_stable_task_definitions", self.never_stable_task_definitions
        )
        if stabilize < 0 or drain < 0:
            raise ValueError("durations must be >= 0")
        if not isinstance(never, list) or not all(isinstance(a, str) for a in never):
            raise ValueError("never_stable_task_definitions must be a list of strings")
        self.stabilize_seconds, self.drain_seconds = stabilize, drain
        self.never_stable_task_definitions = list(never)

    def restore(self) -> None:
        """Back to the values given on the command line."""
        self.update(self._initial)

    def remember_as_initial(self) -> None:
        self._initial = self.as_dict()


CONFIG = RigConfig()

# One lock for all ECS requests: the emulated scheduler state (timers, the
# DRAINING sweep, idempotency look-ups) is then consistent under the
# concurrent requests Terraform's parallelism produces.
ECS_LOCK = threading.RLock()


class EcsError(ServiceException):
    """An ECS error serialised by moto as {"__type": code, "message": ...}."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


class ElbValidationError(ServiceException):
    """ELBv2's query-protocol ValidationError (HTTP 400, XML body)."""

    def __init__(self, message: str):
        super().__init__("ValidationError", message)


def task_set_not_found() -> EcsError:
    return EcsError("TaskSetNotFoundException", "The specified task set does not exist.")


# --------------------------------------------------------------------------
# ECS helpers
# --------------------------------------------------------------------------


def _find_task_set(
    service: Service, ident: str, include_draining: bool = False
) -> TaskSet | None:
    """A task set of `service` named by ARN or by id (ecs-svc/NNN)."""
    for ts in service.task_sets:
        if ts.status == "DRAINING" and not include_draining:
            continue
        if ident in (ts.task_set_arn, ts.id):
            return ts
    return None


def _live_task_set(service: Service, ident: str) -> TaskSet:
    ts = _find_task_set(service, ident or "")
    if ts is None:
        raise task_set_not_found()
    return ts


def _computed_desired_count(service: Service, ts: TaskSet) -> int:
    percent = float((ts.scale or {}).get("value", 100.0))
    # round first so 3 * 33.3% does not become 0.99900000001 -> 1 by accident
    return math.ceil(round(service.desired_count * percent / 100.0, 6))


def _start_stabilizing(ts: TaskSet, from_running: int) -> None:
    ts.rig_since = time.monotonic()
    ts.rig_from_running = from_running
    ts.stabilityStatus = "STABILIZING"
    ts.stabilityStatusAt = utcnow()


def _refresh_task_set(service: Service, ts: TaskSet, now: float) -> None:
    """Recompute stabilityStatus and the task counts from the timers."""
    if not hasattr(ts, "rig_since"):  # created outside our patched path
        ts.rig_target = _computed_desired_count(service, ts)
        _start_stabilizing(ts, 0)
    if ts.status == "DRAINING":
        left = max(ts.rig_drain_until - now, 0.0)
        fraction = left / CONFIG.drain_seconds if CONFIG.drain_seconds else 0.0
        ts.computedDesiredCount = 0
        ts.runningCount = math.ceil(ts.rig_from_running * fraction)
        ts.pendingCount = 0
        ts.stabilityStatus = "STABILIZING"
        return

    target = _computed_desired_count(service, ts)
    if target != ts.rig_target:  # scale or service desiredCount changed
        ts.rig_target = target
        _start_stabilizing(ts, getattr(ts, "runningCount", 0))
    ts.computedDesiredCount = target

    if ts.task_definition in CONFIG.never_stable_task_definitions:
        running, status = 0, "STABILIZING"
    elif now - ts.rig_since < CONFIG.stabilize_seconds:
        progress = (now - ts.rig_since) / CONFIG.stabilize_seconds
        running = int(ts.rig_from_running + (target - ts.rig_from_running) * progress)
        status = "STABILIZING"
    else:
        running, status = target, "STEADY_STATE"

    ts.runningCount = running
    ts.pendingCount = max(target - running, 0)
    if status != ts.stabilityStatus:
        ts.stabilityStatus = status
        ts.stabilityStatusAt = utcnow()


def refresh_backend(backend: EC2ContainerServiceBackend) -> None:
    """Advance the emulated scheduler: counts, stability, end of DRAINING."""
    now = time.monotonic()
    for service in backend.services.values():
        for ts in list(service.task_sets):
            if ts.status == "DRAINING" and now >= ts.rig_drain_until:
                service.task_sets.remove(ts)
            else:
                _refresh_task_set(service, ts, now)


# --------------------------------------------------------------------------
# ECS patches
# --------------------------------------------------------------------------

_original_create_task_set = EC2ContainerServiceBackend.create_task_set


def _with_default_security_group(backend, network: dict | None) -> dict | None:
    """awsvpcConfiguration without securityGroups uses the VPC's default
    security group, as AWS does (moto raises KeyError -> HTTP 500)."""
    awsvpc = (network or {}).get("awsvpcConfiguration")
    if not awsvpc or awsvpc.get("securityGroups") or not awsvpc.get("subnets"):
        return network
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    try:
        vpc_id = ec2.get_subnet(awsvpc["subnets"][0]).vpc_id
    except ServiceException:
        return network  # moto's own subnet validation reports it
    group = ec2.get_default_security_group(vpc_id)
    if group is None:
        return network
    return {**network, "awsvpcConfiguration": {**awsvpc, "securityGroups": [group.id]}}


def _task_set_for_client_token(svc: Service, token: str | None) -> TaskSet | None:
    """Real AWS: CreateTaskSet is idempotent on clientToken, so an SDK retry
    after a lost response returns the task set already made (moto stores a
    duplicate per attempt).  Tokens of deleted (DRAINING) task sets are spent."""
    if token:
        for existing in svc.task_sets:
            if existing.status != "DRAINING" and existing.client_token == token:
                return existing
    return None


def _check_service_takes_task_sets(svc: Service) -> None:
    """Real AWS: an INACTIVE (deleted) service is refused with
    ServiceNotActiveException, and only a service using the EXTERNAL
    deployment controller has task sets (moto allows both)."""
    if svc.status != "ACTIVE":
        raise EcsError("ServiceNotActiveException", "Service was not ACTIVE.")
    controller = (svc.deployment_controller or {}).get("type", "ECS")
    if controller != "EXTERNAL":
        raise EcsError(
            "InvalidParameterException",
            "Unable to create TaskSet. The service must use the EXTERNAL "
            f"deployment controller to manage task sets; service {svc.name} "
            f"uses the {controller} deployment controller.",
        )


def _check_task_set_limit(svc: Service) -> None:
    """Real AWS: at most 5 task sets (deployments) per service, DRAINING ones
    included (moto has no limit)."""
    if len(svc.task_sets) >= MAX_TASK_SETS_PER_SERVICE:
        raise EcsError(
            "InvalidParameterException",
            f"{len(svc.task_sets)} deployments exist on the service. Unable to "
            "create new TaskSet since this exceeds the maximum limit.",
        )


def create_task_set(self, service, cluster_str, task_definition, **kwargs):
    """CreateTaskSet as AWS does it: typed not-found errors, then the checks
    above, then moto's own create; the new task set starts STABILIZING."""
    svc = self._get_service(cluster_str or "default", service)
    existing = _task_set_for_client_token(svc, kwargs.get("client_token"))
    if existing is not None:
        return existing
    _check_service_takes_task_sets(svc)
    _check_task_set_limit(svc)
    requested_network = kwargs.get("network_configuration")
    kwargs["network_configuration"] = _with_default_security_group(self, requested_network)
    ts = _original_create_task_set(
        self, svc.name, svc.cluster_name, task_definition, **kwargs
    )
    ts.network_configuration = requested_network  # describe echoes the request
    ts.rig_target = _computed_desired_count(svc, ts)
    _start_stabilizing(ts, 0)
    _refresh_task_set(svc, ts, time.monotonic())
    return ts


def update_task_set(self, cluster, service, task_set, scale):
    """UpdateTaskSet: typed not-found errors (moto answers HTTP 500) and a
    fresh STABILIZING period whenever the scale changes."""
    svc = self._get_service(cluster or "default", service)
    ts = _live_task_set(svc, task_set)
    if scale and scale != ts.scale:
        ts.scale = scale
        ts.updatedAt = utcnow()
        ts.rig_target = _computed_desired_count(svc, ts)
        _start_stabilizing(ts, getattr(ts, "runningCount", 0))
    _refresh_task_set(svc, ts, time.monotonic())
    return ts


def update_service_primary_task_set(self, cluster, service, primary_task_set):
    """UpdateServicePrimaryTaskSet accepts a task set id or ARN (moto silently
    ignores ids) and answers TaskSetNotFoundException for an unknown one.
    The previous PRIMARY becomes ACTIVE; DRAINING task sets stay DRAINING."""
    svc = self._get_service(cluster or "default", service)
    ts = _live_task_set(svc, primary_task_set)
    for other in svc.task_sets:
        if other.status == "PRIMARY":
            other.status = "ACTIVE"
            other.updatedAt = utcnow()
    ts.status = "PRIMARY"
    ts.updatedAt = utcnow()
    svc.load_balancers = ts.load_balancers
    svc.task_definition = ts.task_definition
    return ts


def delete_task_set(self, cluster, service, task_set, force=False):
    """DeleteTaskSet: the PRIMARY task set needs force=true; typed not-found
    errors; the task set goes DRAINING (still described) for drain_seconds
    before it disappears, instead of vanishing at once."""
    svc = self._get_service(cluster or "default", service)
    ts = _live_task_set(svc, task_set)
    if ts.status == "PRIMARY" and not force:
        raise EcsError("InvalidParameterException", "Primary TaskSet cannot be deleted")
    ts.rig_from_running = getattr(ts, "runningCount", 0)
    ts.rig_drain_until = time.monotonic() + CONFIG.drain_seconds
    ts.status = "DRAINING"
    ts.updatedAt = utcnow()
    _refresh_task_set(svc, ts, time.monotonic())
    return ts


def delete_task_set_response(self):
    """DeleteTaskSet: pass the `force` flag through (moto drops it)."""
    ts = self.ecs_backend.delete_task_set(
        self._get_param("cluster", "default"),
        self._get_param("service"),
        self._get_param("taskSet"),
        force=bool(self._get_param("force", False)),
    )
    return ActionResult({"taskSet": ts})


_original_describe_task_sets_response = EC2ContainerServiceResponse.describe_task_sets


def describe_task_sets_response(self):
    """DescribeTaskSets reports each unknown id/ARN as a MISSING failure
    (moto drops them silently) and answers typed not-found errors."""
    svc = self.ecs_backend._get_service(
        self._get_param("cluster", "default"), self._get_param("service")
    )
    result = _original_describe_task_sets_response(self)
    wanted = self._get_param("taskSets", []) or []
    failures = [
        {"arn": ident, "reason": "MISSING"}
        for ident in wanted
        if _find_task_set(svc, ident, include_draining=True) is None
    ]
    result.result["failures"] = failures
    return result


def ecs_dispatch(self, request, full_url=None, headers=None):
    """Every ECS request: advance the emulated scheduler first, and turn any
    unhandled exception into AWS's JSON ServerException (HTTP 500) instead
    of Flask's HTML error page, so SDK retries and error parsing behave as
    they do against AWS."""
    try:
        with ECS_LOCK:
            self.setup_class(request, full_url, headers)
            refresh_backend(self.ecs_backend)
            return self.call_action()
    except Exception as exc:  # noqa: BLE001 - that is the point
        traceback.print_exc(file=sys.stderr)
        body = json.dumps(
            {"__type": "ServerException", "message": f"{type(exc).__name__}: {exc}"}
        )
        return 500, {"Content-Type": "application/x-amz-json-1.1"}, body


# --------------------------------------------------------------------------
# ELBv2 patches
# --------------------------------------------------------------------------


def _forward_action_errors(actions: list[dict[str, Any]] | None, field: str) -> list[str]:
    """AWS-style constraint messages for forward actions' weights, number of
    target groups and stickiness duration."""
    errors = []
    for i, action in enumerate(actions or [], start=1):
        config = action.get("ForwardConfig") or {}
        groups = config.get("TargetGroups") or []
        where = f"{field}.{i}.member.forwardConfig"
        if len(groups) > 5:
            errors.append(
                f"Value with {len(groups)} elements at '{where}.targetGroups' failed "
                "to satisfy constraint: Member must have length less than or equal to 5"
            )
        for j, group in enumerate(groups, start=1):
            weight = group.get("Weight")
            if weight is None:
                continue
            weight = int(weight)
            if weight < 0 or weight > 999:
                bound = "greater than or equal to 0" if weight < 0 else "less than or equal to 999"
                errors.append(
                    f"Value '{weight}' at '{where}.targetGroups.{j}.member.weight' "
                    f"failed to satisfy constraint: Member must have value {bound}"
                )
        duration = (config.get("TargetGroupStickinessConfig") or {}).get("DurationSeconds")
        if duration is not None:
            duration = int(duration)
            if duration < 1 or duration > 604800:
                bound = (
                    "greater than or equal to 1" if duration < 1
                    else "less than or equal to 604800"
                )
                errors.append(
                    f"Value '{duration}' at '{where}.targetGroupStickinessConfig."
                    f"durationSeconds' failed to satisfy constraint: Member must "
                    f"have value {bound}"
                )
    return errors


def validate_forward_actions(original, actions_param: str, field: str):
    """Wrap an ELBv2 backend method so its forward actions are validated
    first, as AWS does before touching any resource: weights 0..999, at most
    5 target groups per forward config, stickiness 1..604800 seconds."""
    signature = inspect.signature(original)

    def wrapper(self, *args, **kwargs):
        actions = signature.bind(self, *args, **kwargs).arguments.get(actions_param)
        errors = _forward_action_errors(actions, field)
        if errors:
            count = len(errors)
            raise ElbValidationError(
                f"{count} validation error{'s' if count > 1 else ''} detected: "
                + "; ".join(errors)
            )
        return original(self, *args, **kwargs)

    wrapper.__name__ = original.__name__
    wrapper.__doc__ = original.__doc__
    return wrapper


_original_delete_rule = ELBv2Backend.delete_rule


def delete_rule(self, arn):
    """DeleteRule of an unknown rule ARN answers RuleNotFound (moto: 200)."""
    for balancer in self.load_balancers.values():
        for listener in balancer.listeners.values():
            if arn in listener._non_default_rules:
                return _original_delete_rule(self, arn)
    raise RuleNotFoundError()


# --------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------


def install_patches() -> None:
    ecs_backend = EC2ContainerServiceBackend
    ecs_backend.create_task_set = create_task_set
    ecs_backend.update_task_set = update_task_set
    ecs_backend.update_service_primary_task_set = update_service_primary_task_set
    ecs_backend.delete_task_set = delete_task_set

    ecs_response = EC2ContainerServiceResponse
    ecs_response.delete_task_set = delete_task_set_response
    ecs_response.describe_task_sets = describe_task_sets_response
    ecs_response._dispatch = ecs_dispatch

    elb = ELBv2Backend
    elb.create_rule = validate_forward_actions(elb.create_rule, "actions", "actions")
    elb.modify_rule = validate_forward_actions(elb.modify_rule, "actions", "actions")
    elb.create_listener = validate_forward_actions(
        elb.create_listener, "actions", "defaultActions"
    )
    elb.modify_listener = validate_forward_actions(
        elb.modify_listener, "actions", "defaultActions"
    )
    elb.delete_rule = delete_rule


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------


class RigApp:
    """WSGI front: /_rig/config for the test harness, everything else to moto."""

    def __init__(self, moto_app):
        self.moto_app = moto_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").rstrip("/") == "/_rig/config":
            return self.config_endpoint(environ, start_response)
        return self.moto_app(environ, start_response)

    @staticmethod
    def config_endpoint(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        status = "200 OK"
        try:
            if method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                values = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if not isinstance(values, dict):
                    raise ValueError("expected a JSON object")
                with ECS_LOCK:
                    CONFIG.update(values)
            elif method == "DELETE":
                with ECS_LOCK:
                    CONFIG.restore()
            elif method != "GET":
                status = "405 Method Not Allowed"
            body = CONFIG.as_dict() if status.startswith("200") else {"error": method}
        except (ValueError, TypeError) as exc:
            status, body = "400 Bad Request", {"error": str(exc)}
        data = json.dumps(body).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--stabilize-seconds", type=float, default=2.0)
    parser.add_argument("--drain-seconds", type=float, default=2.0)
    parser.add_argument(
        "--never-stable", action="append", default=[], metavar="TASK_DEF_ARN",
        help="task definition ARN whose task sets never stabilise (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = parser.parse_args(argv)

    CONFIG.update({
        "stabilize_seconds": args.stabilize_seconds,
        "drain_seconds": args.drain_seconds,
        "never_stable_task_definitions": args.never_stable,
    })
    CONFIG.remember_as_initial()
    install_patches()
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    app = RigApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    # keep-alive connections of SDK clients must not delay a SIGTERM shutdown
    server.daemon_threads = True
    server.block_on_close = False
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    print(f"READY {server.server_port}", flush=True)
    while not stop.wait(1.0):
        if not thread.is_alive():
            return 1
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
