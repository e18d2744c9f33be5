#!/usr/bin/env python3
"""AWS emulator for the ecsx end-to-end tests: moto's server with its gaps closed.

moto 5.2.6 models ECS task sets and ELBv2 forward actions loosely: PRIMARY
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
                            never_stable_task_definitions and the switches below;
                            returns the result
    DELETE /_rig/config  -> restore the settings given on the command line
    POST   /_rig/window  <- {"name": "plan"}: count write calls (Create*, Update*, Delete*,
                            Modify*, Tag*, Untag*, Register*, Deregister*) from now on
    GET    /_rig/window  -> {"name", "open", "writes": {"ecs.TagResource": n}, "write_total"}
    DELETE /_rig/window  -> stop counting; answers as GET (a harness fails a `terraform
                            plan` whose window saw a write)
    GET    /_rig/traffic -> {"enabled", "samples", "violations": [...], "mixed": [...],
                            "errors": [...]}: the traffic model (TrafficModel) sampled after
                            every ECS and ELBv2 request.  A violation is a task set that is
                            not yet steady (since creation, or since a scale-up) holding more
                            of a listener's or rule's traffic than it held when it became so:
                            {at, task_set, task_set_arn, service, task_definition, router,
                            share, cap}, once per (task set, router, unproven episode).  Mixed:
                            a weighted target group serving two task definitions at once,
                            {at, target_group, task_definitions}, once per episode
    DELETE /_rig/traffic -> forget the records (task sets stay tracked); answers as GET

Switches for real-AWS behaviours (RigConfig.SWITCHES; default = real behaviour unless noted):
    hide_oidc_client_secret (true)   Describe* omit AuthenticateOidcConfig.ClientSecret;
                                     Modify* need it or UseExistingClientSecret=true
    elb_page_size (null, off)        Describe{Rules,Listeners,TargetGroups} page this many
                                     items at a time; off by default because one-item pages
                                     break the safety suite's call budget (rule 8), not the
                                     provider, which follows markers
    stale_stability_seconds (1.0)    old stabilityStatus/counts reported this long after
                                     CreateTaskSet / UpdateTaskSet
    require_associated_target_group (true)  CreateTaskSet refuses a target group that no
                                     listener or rule forwards to
    elb_stale_seconds (0, off)       Describe{Rules,Listeners} show the actions from before a
                                     ModifyRule/ModifyListener this long after it
    propagation_seconds (0, off)     CreateTaskSet answers ClusterNotFound/ServiceNotFound/
                                     the association error this long after the cluster,
                                     service or association was made; off by default only
                                     because every suite would wait it out once per stack
    native_stage_seconds (0.5)       native ECS deployments (tests/rig/native.py): a lifecycle
                                     stage without a hook lasts this long
    native_minute_seconds (60)       ... and one emulated minute (bake times, hook timeouts)
    alarm_evaluation_states ({})     DescribeAlarms reports EvaluationState for these alarms
    metric_data_statuses ({})        GetMetricData answers this StatusCode (PartialData,
                                     InternalError, Forbidden) for queries of these metric names
    metric_data_page_points (null)   GetMetricData pages after this many points (NextToken);
                                     it always honours MaxDatapoints
    traffic_model (true)             not an AWS behaviour: sample the traffic model (above);
                                     false stops sampling and forgets every task set
Always on: CreateTaskSet fills what AWS fills (the VPC default security group, the cluster's
default capacity provider strategy, the resolved Fargate platform version) and Describe*
report it; NLBs get loadbalancer/net and listener/net ARNs, TCP/UDP target groups, no rules
and no stickiness; a target group's LoadBalancerArns follow what listeners and rules forward to
now; DescribeServices lists task sets without their tags; a service with desiredCount 0 has
every task set STEADY_STATE at once;
a deleted task set drains for drain_seconds x (its target group's deregistration delay / 300 s);
GetMetricData computes percentile statistics (pNN) from published values and matches a
metric's dimensions in any order.
moto's own ``POST /moto-api/reset`` keeps working (settings survive it).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import inspect
import io
import json
import logging
import math
import re
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from typing import Any

from moto.cloudwatch.exceptions import ValidationError as CloudWatchValidationError
from moto.cloudwatch.models import Alarm, Dimension, Statistics
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskSet, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.exceptions import RuleNotFoundError
from moto.elbv2.models import ELBv2Backend, elbv2_backends
from moto.elbv2.responses import ELBV2Response
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

import native  # noqa: E402 - tests/rig/native.py: native ECS deployments

ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
MAX_TASK_SETS_PER_SERVICE = 5


# --------------------------------------------------------------------------
# Runtime settings (changed through /_rig/config)
# --------------------------------------------------------------------------


class RigConfig:
    """Timing knobs of the emulated ECS scheduler."""

    # Switches for real-AWS behaviours, with their defaults.  Each is on (the real behaviour)
    # unless the provider or today's suites cannot live with it yet; see the module docstring.
    SWITCHES: dict[str, Any] = {
        # Describe{Rules,Listeners} never return AuthenticateOidcConfig.ClientSecret and
        # Modify* refuses an authenticate-oidc action with neither it nor UseExistingClientSecret.
        "hide_oidc_client_secret": True,
        # Describe{Rules,Listeners,TargetGroups} answer at most this many items per page
        # (NextMarker for the rest); None: moto's own paging.  Off by default: real ELBv2
        # pages at up to 400 items, and the safety suite's call budget (rule 8) counts one
        # call per Describe operation; the paging tests turn it on with 1.
        "elb_page_size": None,
        # For this long after an UpdateTaskSet/CreateTaskSet, Describe* still report the old
        # stabilityStatus, stabilityStatusAt and counts (ECS computes them asynchronously).
        "stale_stability_seconds": 1.0,
        # CreateTaskSet refuses a target group no listener or rule forwards to.
        "require_associated_target_group": True,
        # An UpdateTaskSet that leaves computedDesiredCount as it was (50% to 60% of one task)
        # starts a new STABILIZING period, re-dating stabilityStatusAt.  ECS does not document
        # that it does; false models the ECS that keeps the STEADY_STATE and its date.
        "restabilize_unchanged_count": True,
        # A metric alarm's EvaluationState by alarm name (PARTIAL_DATA, EVALUATION_FAILURE,
        # EVALUATION_ERROR): what DescribeAlarms reports when CloudWatch cannot evaluate an
        # alarm (a failing metric query), which moto never does.
        "alarm_evaluation_states": {},
        # GetMetricData answers this StatusCode (PartialData, InternalError, Forbidden) for
        # the queries of these metric names, as CloudWatch does when it cannot return all
        # of a metric's points; moto always answers Complete.
        "metric_data_statuses": {},
        # GetMetricData answers at most this many points per call and pages the rest with
        # NextToken (CloudWatch pages at MaxDatapoints, 100,800 by default); null: off.
        "metric_data_page_points": None,
        # For this long after CreateCluster / CreateService / a target group's first
        # association, CreateTaskSet answers ClusterNotFound / ServiceNotFound / the
        # association error (propagation).  0: off.
        "propagation_seconds": 0.0,
        # For this long after a ModifyRule / ModifyListener, Describe{Rules,Listeners} still
        # show the actions from before it (ELBv2 is eventually consistent); a second Modify*
        # within that time keeps the first one's snapshot.  0: off, because every shift of
        # every suite would wait it out.
        "elb_stale_seconds": 0.0,
        # Sample which task set gets which share of traffic after every ECS/ELBv2 request
        # (GET /_rig/traffic).  Not an AWS behaviour: a check of the provider's ordering.
        "traffic_model": True,
        # Native ECS deployments (tests/rig/native.py): how long a lifecycle stage without a
        # hook lasts, and how many real seconds one emulated minute (bake times, hook timeouts)
        # lasts, so tests need not wait real minutes.
        "native_stage_seconds": 0.5,
        "native_minute_seconds": 60.0,
    }

    def __init__(
        self,
        stabilize_seconds: float = 2.0,
        drain_seconds: float = 2.0,
        never_stable_task_definitions: list[str] | None = None,
    ):
        self.stabilize_seconds = float(stabilize_seconds)
        self.drain_seconds = float(drain_seconds)
        self.never_stable_task_definitions = list(never_stable_task_definitions or [])
        for name, default in self.SWITCHES.items():
            setattr(self, name, default)
        self._initial = self.as_dict()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stabilize_seconds": self.stabilize_seconds,
            "drain_seconds": self.drain_seconds,
            "never_stable_task_definitions": list(self.never_stable_task_definitions),
            **{name: getattr(self, name) for name in self.SWITCHES},
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
        switches = {name: values.get(name, getattr(self, name)) for name in self.SWITCHES}
        for name in ("hide_oidc_client_secret", "require_associated_target_group",
                     "traffic_model", "restabilize_unchanged_count"):
            if not isinstance(switches[name], bool):
                raise ValueError(f"{name} must be true or false")
        states = switches["alarm_evaluation_states"]
        allowed = {"PARTIAL_DATA", "EVALUATION_FAILURE", "EVALUATION_ERROR"}
        if not isinstance(states, dict) or not all(
                isinstance(k, str) and v in allowed for k, v in states.items()):
            raise ValueError(f"alarm_evaluation_states maps alarm names to one of {sorted(allowed)}")
        switches["alarm_evaluation_states"] = dict(states)
        statuses = switches["metric_data_statuses"]
        if not isinstance(statuses, dict) or not all(
                isinstance(k, str) and v in METRIC_STATUSES for k, v in statuses.items()):
            raise ValueError(f"metric_data_statuses maps metric names to one of {list(METRIC_STATUSES)}")
        switches["metric_data_statuses"] = dict(statuses)
        points = switches["metric_data_page_points"]
        if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 1):
            raise ValueError("metric_data_page_points must be a whole number >= 1 or null")
        page = switches["elb_page_size"]
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise ValueError("elb_page_size must be a whole number >= 1 or null")
        for name in ("stale_stability_seconds", "propagation_seconds", "elb_stale_seconds",
                     "native_stage_seconds", "native_minute_seconds"):
            if isinstance(switches[name], bool) or not isinstance(switches[name], (int, float)) \
                    or switches[name] < 0:
                raise ValueError(f"{name} must be a number >= 0")
            switches[name] = float(switches[name])
        self.stabilize_seconds, self.drain_seconds = stabilize, drain
        self.never_stable_task_definitions = list(never)
        for name, value in switches.items():
            setattr(self, name, value)

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


class ElbError(ServiceException):
    """An ELBv2 query-protocol error with any code (HTTP 400, XML body)."""

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
        total = getattr(ts, "rig_drain_seconds", CONFIG.drain_seconds)
        fraction = left / total if total else 0.0
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

    if service.desired_count == 0:
        # Real AWS: a service with desiredCount 0 has nothing to start or stop, so every task
        # set is STEADY_STATE at once with no tasks (the timers model starting tasks).
        running, status = 0, "STEADY_STATE"
    elif ts.task_definition in CONFIG.never_stable_task_definitions:
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
        ts.stabilityStatusAt = _after_last_write(ts)


def _after_last_write(ts: TaskSet):
    """Now, but never at or before the task set's last write: ECS recomputes stability after
    a write, and answers in whole milliseconds, so with `stabilize_seconds` 0 a STEADY_STATE
    computed in the same millisecond as CreateTaskSet must still read as later than it."""
    now = utcnow()
    last = getattr(ts, "updatedAt", None) or getattr(ts, "createdAt", None)
    if last is not None and now <= last + datetime.timedelta(milliseconds=1):
        return last + datetime.timedelta(milliseconds=1)
    return now


STALE_FIELDS = ("stabilityStatus", "stabilityStatusAt", "computedDesiredCount",
                "runningCount", "pendingCount")


def _remember_stale(ts: TaskSet, snapshot: dict[str, Any] | None = None) -> None:
    """Real AWS computes stabilityStatus and the counts asynchronously: for a moment after a
    write, readers still see the values from before it (`stale_stability_seconds`)."""
    if CONFIG.stale_stability_seconds <= 0:
        return
    ts.rig_stale = snapshot or {f: getattr(ts, f, None) for f in STALE_FIELDS}
    ts.rig_stale_until = time.monotonic() + CONFIG.stale_stability_seconds


def _present_stale(backend: EC2ContainerServiceBackend) -> list[tuple[TaskSet, dict]]:
    """Put the stale values in place for one Describe* answer; returns what to put back."""
    now, swapped = time.monotonic(), []
    for service in backend.services.values():
        for ts in service.task_sets:
            if getattr(ts, "rig_stale_until", 0) > now and ts.status != "DRAINING":
                swapped.append((ts, {f: getattr(ts, f, None) for f in STALE_FIELDS}))
                for f, v in ts.rig_stale.items():
                    setattr(ts, f, v)
    return swapped


def _restore_truth(swapped: list[tuple[TaskSet, dict]]) -> None:
    for ts, truth in swapped:
        for f, v in truth.items():
            setattr(ts, f, v)


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


# What LATEST resolves to on Fargate (Linux) today; DescribeTaskSets reports the resolved one.
FARGATE_LATEST_PLATFORM_VERSION = "1.4.0"
FARGATE_CAPACITY_PROVIDERS = {"FARGATE", "FARGATE_SPOT"}


def _requested_strategy(backend, cluster_name: str, kwargs) -> list[dict]:
    """Real AWS: a CreateTaskSet with neither launchType nor capacityProviderStrategy uses
    the cluster's default capacity provider strategy (the EC2 launch type when it has none;
    moto ignores the cluster's default and always uses a launch type)."""
    strategy = kwargs.get("capacity_provider_strategy") or []
    if kwargs.get("launch_type") or strategy:
        return strategy
    default = backend._get_cluster(cluster_name).default_capacity_provider_strategy or []
    return [
        {"capacityProvider": item["capacityProvider"], "weight": item.get("weight", 0),
         "base": item.get("base", 0)}
        for item in default
    ]


def _is_fargate(launch_type: str | None, strategy: list[dict]) -> bool:
    return launch_type == "FARGATE" or any(
        item.get("capacityProvider") in FARGATE_CAPACITY_PROVIDERS for item in strategy
    )


def _fill_placement_defaults(ts: TaskSet, kwargs, strategy: list[dict]) -> None:
    """Describe* as AWS answers them: a task set on a strategy has no launch type (moto
    reports EC2 for every task set), and a Fargate task set reports the platform version
    LATEST resolved to (moto echoes "LATEST"); other task sets report none."""
    if strategy:
        ts.capacity_provider_strategy = strategy
        ts.launch_type = None
    if not _is_fargate(ts.launch_type, strategy):
        ts.platform_version = None
    elif kwargs.get("platform_version") in (None, "", "LATEST"):
        ts.platform_version = FARGATE_LATEST_PLATFORM_VERSION


DEFAULT_DEREGISTRATION_DELAY = 300.0


def _drain_seconds(backend, ts: TaskSet) -> float:
    """Real AWS: a deleted task set stays DRAINING while its target group drains the
    deregistered targets, i.e. for the target group's deregistration delay (300 s unless
    set).  Scaled for tests: a target group with the default delay drains `drain_seconds`,
    one with a 30 s delay a tenth of that."""
    delays = []
    elb = elbv2_backends[backend.account_id][backend.region_name]
    for lb in ts.load_balancers or []:
        group = elb.target_groups.get(lb.get("targetGroupArn", ""))
        if group is not None:
            value = (group.attributes or {}).get("deregistration_delay.timeout_seconds")
            delays.append(float(value if value is not None else DEFAULT_DEREGISTRATION_DELAY))
    delay = max(delays) if delays else DEFAULT_DEREGISTRATION_DELAY
    return CONFIG.drain_seconds * delay / DEFAULT_DEREGISTRATION_DELAY


def _check_target_groups_associated(backend, svc: Service, load_balancers) -> None:
    """Real AWS: CreateTaskSet refuses a target group that no listener or rule forwards to
    (moto accepts any), and for a moment after the first listener or rule starts forwarding
    to it ECS has not heard of the association yet (`propagation_seconds`)."""
    if not CONFIG.require_associated_target_group:
        return
    elb = elbv2_backends[backend.account_id][backend.region_name]
    for lb in load_balancers or []:
        arn = lb.get("targetGroupArn")
        if not arn:
            continue
        associated_at = TARGET_GROUP_ASSOCIATED_AT.get(arn)
        recent = associated_at is not None and \
            time.monotonic() - associated_at < CONFIG.propagation_seconds
        if arn not in elb.target_groups or not elb._any_listener_using(arn) or recent:
            raise EcsError(
                "InvalidParameterException",
                f"The target group with targetGroupArn {arn} does not have an "
                "associated load balancer.",
            )


def _check_propagated(svc: Service, cluster_name: str) -> None:
    """Real AWS: right after CreateCluster / CreateService, ECS can still answer
    ClusterNotFoundException / ServiceNotFoundException (`propagation_seconds`)."""
    if CONFIG.propagation_seconds <= 0:
        return
    now = time.monotonic()
    if now - CREATED_AT.get(("cluster", cluster_name), -1e9) < CONFIG.propagation_seconds:
        raise EcsError("ClusterNotFoundException", "Cluster not found.")
    if now - CREATED_AT.get(("service", svc.arn), -1e9) < CONFIG.propagation_seconds:
        raise EcsError("ServiceNotFoundException", "Service not found.")


# When the rig saw clusters and services made, and target groups first forwarded to.
CREATED_AT: dict[tuple[str, str], float] = {}
TARGET_GROUP_ASSOCIATED_AT: dict[str, float] = {}

_original_create_cluster = EC2ContainerServiceBackend.create_cluster
_original_create_service = EC2ContainerServiceBackend.create_service


def create_cluster(self, *args, **kwargs):
    cluster = _original_create_cluster(self, *args, **kwargs)
    CREATED_AT[("cluster", cluster.name)] = time.monotonic()
    return cluster


def create_service(self, *args, **kwargs):
    service = _original_create_service(self, *args, **kwargs)
    CREATED_AT[("service", service.arn)] = time.monotonic()
    return service


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
    _check_propagated(svc, svc.cluster_name)
    _check_service_takes_task_sets(svc)
    _check_task_set_limit(svc)
    _check_target_groups_associated(self, svc, kwargs.get("load_balancers"))
    # Describe* report the security group ECS used, the VPC default one included.
    kwargs["network_configuration"] = _with_default_security_group(
        self, kwargs.get("network_configuration")
    )
    strategy = _requested_strategy(self, svc.cluster_name, kwargs)
    placed = dict(kwargs)
    if strategy and not kwargs.get("launch_type"):
        # moto starts the tasks by launch type only (EC2 needs container instances).
        placed["launch_type"] = "FARGATE" if _is_fargate(None, strategy) else "EC2"
    ts = _original_create_task_set(
        self, svc.name, svc.cluster_name, task_definition, **placed
    )
    _fill_placement_defaults(ts, kwargs, strategy)
    TRAFFIC.created(ts)
    ts.rig_target = _computed_desired_count(svc, ts)
    _start_stabilizing(ts, 0)
    _refresh_task_set(svc, ts, time.monotonic())
    # Not computed yet: readers see a STABILIZING task set with no counts (as CreateTaskSet
    # answers) whose stability dates from its creation.
    _remember_stale(ts, {
        "stabilityStatus": "STABILIZING", "stabilityStatusAt": ts.createdAt,
        "computedDesiredCount": 0, "runningCount": 0, "pendingCount": 0,
    })
    return ts


def update_task_set(self, cluster, service, task_set, scale):
    """UpdateTaskSet: typed not-found errors (moto answers HTTP 500) and a
    fresh STABILIZING period whenever the scale changes."""
    svc = self._get_service(cluster or "default", service)
    ts = _live_task_set(svc, task_set)
    if scale and scale != ts.scale:
        if _scale_value(scale) > _scale_value(ts.scale):
            TRAFFIC.scaling_up(ts)
        _remember_stale(ts)
        ts.scale = scale
        ts.updatedAt = utcnow()
        target = _computed_desired_count(svc, ts)
        if target != getattr(ts, "rig_target", None) or CONFIG.restabilize_unchanged_count:
            ts.rig_target = target
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
    ts.rig_drain_seconds = _drain_seconds(self, ts)
    ts.rig_drain_until = time.monotonic() + ts.rig_drain_seconds
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


_original_describe_services_response = EC2ContainerServiceResponse.describe_services

# The key path of the task sets' tags inside a DescribeServices answer.
DESCRIBE_SERVICES_TASK_SET_TAGS = "DescribeServicesResponse.services.Service.taskSets.TaskSet.tags"


def describe_services_response(self):
    """DescribeServices lists a service's task sets without their tags, with or without
    include=TAGS (which covers the service's own tags): the API reference documents task set
    tags only through DescribeTaskSets with include=TAGS, so nothing may rely on them here.
    moto returns them."""
    result = _original_describe_services_response(self)
    self._exclude_from_response(DESCRIBE_SERVICES_TASK_SET_TAGS)
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
            native.tick(self.ecs_backend)
            target = (self.headers or {}).get("X-Amz-Target", "")
            reads = target.endswith((".DescribeTaskSets", ".DescribeServices"))
            swapped = _present_stale(self.ecs_backend) if reads else []
            try:
                return self.call_action()
            finally:
                _restore_truth(swapped)
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


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _check_and_hide_oidc_secrets(actions: list[dict[str, Any]] | None, modifying: bool) -> None:
    """Real AWS keeps an authenticate-oidc action's ClientSecret to itself: Describe*
    never return it, so a Modify* must send it again or say UseExistingClientSecret=true;
    a Create* must send it.  moto stores, returns and never asks for it."""
    if not CONFIG.hide_oidc_client_secret:
        return
    for i, action in enumerate(actions or [], start=1):
        if action.get("Type") != "authenticate-oidc":
            continue
        config = action.get("AuthenticateOidcConfig") or {}
        reuse = _is_true(config.get("UseExistingClientSecret"))
        if not config.get("ClientSecret") and not (modifying and reuse):
            raise ElbValidationError(
                f"Action {i} of type authenticate-oidc needs a ClientSecret"
                + (", or UseExistingClientSecret set to true to keep the one the rule or "
                   "listener has" if modifying else "")
            )
        config.pop("ClientSecret", None)
        config.pop("UseExistingClientSecret", None)


def _balancer_of_listener(backend: ELBv2Backend, listener_arn: str):
    for balancer in backend.load_balancers.values():
        if listener_arn in balancer.listeners:
            return balancer
    return None


NLB_PROTOCOLS = {"TCP", "UDP", "TCP_UDP", "TLS"}


def _check_network_forward(backend: ELBv2Backend, balancer, actions) -> None:
    """Real AWS: a Network Load Balancer listener forwards (weighted, to up to 5 target
    groups) only to TCP/UDP/TLS target groups and has no target group stickiness."""
    if balancer is None or balancer.type != "network":
        return
    for i, action in enumerate(actions or [], start=1):
        config = action.get("ForwardConfig") or {}
        if "TargetGroupStickinessConfig" in config:
            raise ElbValidationError(
                f"Action {i}: target group stickiness is not supported for listeners of "
                "Network Load Balancers"
            )
        groups = [g.get("TargetGroupArn") for g in config.get("TargetGroups") or []]
        groups += [action["TargetGroupArn"]] if action.get("TargetGroupArn") else []
        for arn in groups:
            group = backend.target_groups.get(arn)
            if group is not None and group.protocol not in NLB_PROTOCOLS:
                raise ElbError(
                    "IncompatibleProtocols",
                    f"The protocol of target group '{arn}' ({group.protocol}) is not "
                    "supported by a Network Load Balancer listener",
                )


def _strip_network_stickiness(balancer, actions) -> None:
    """moto adds TargetGroupStickinessConfig {Enabled: false} to every forward it stores;
    an NLB listener has no stickiness, so Describe* must not show any."""
    if balancer is None or balancer.type != "network":
        return
    for action in actions:
        config = action.data.get("ForwardConfig")
        if config is not None:
            config.pop("TargetGroupStickinessConfig", None)
            action.__dict__.pop("TargetGroupStickinessConfig", None)


def _note_associations(backend: ELBv2Backend) -> None:
    """Remember when each target group was first forwarded to (for propagation_seconds)."""
    now = time.monotonic()
    for arn in backend.target_groups:
        if arn not in TARGET_GROUP_ASSOCIATED_AT and backend._any_listener_using(arn):
            TARGET_GROUP_ASSOCIATED_AT[arn] = now
    for arn in list(TARGET_GROUP_ASSOCIATED_AT):
        if arn not in backend.target_groups or not backend._any_listener_using(arn):
            del TARGET_GROUP_ASSOCIATED_AT[arn]


_original_create_load_balancer = ELBv2Backend.create_load_balancer


def create_load_balancer(self, *args, **kwargs):
    """Real AWS names Network Load Balancers `loadbalancer/net/...` (and so their listeners
    `listener/net/...`); moto labels every load balancer `app`."""
    balancer = _original_create_load_balancer(self, *args, **kwargs)
    if balancer.type == "network" and ":loadbalancer/app/" in balancer.arn:
        old = balancer.arn
        balancer.arn = old.replace(":loadbalancer/app/", ":loadbalancer/net/")
        self.load_balancers = type(self.load_balancers)(
            (balancer.arn if k == old else k, v) for k, v in self.load_balancers.items()
        )
        tags = self.tagging_service.list_tags_for_resource(old).get("Tags", [])
        self.tagging_service.delete_all_tags_for_resource(old)
        self.tagging_service.tag_resource(balancer.arn, tags)
    return balancer


_original_describe_target_groups = ELBv2Backend.describe_target_groups


def _sync_load_balancer_arns(backend: ELBv2Backend) -> None:
    """Real AWS: a target group's LoadBalancerArns are the load balancers whose listeners or
    rules forward to it now, each once. moto appends one at every CreateListener/CreateRule
    that names it (twice for two rules) and never updates them on Modify*/Delete*, so a
    target group added by ModifyRule reads as unattached and one taken out stays attached."""
    using: dict[str, list[str]] = {arn: [] for arn in backend.target_groups}
    for balancer in backend.load_balancers.values():
        routed: set[str] = set()
        for listener in balancer.listeners.values():
            routed |= set(_forward_weights(listener.default_actions))
            for rule in listener._non_default_rules.values():
                routed |= set(_forward_weights(rule.actions))
        for arn in routed:
            if arn in using:
                using[arn].append(balancer.arn)
    for arn, group in backend.target_groups.items():
        group.load_balancer_arns = using[arn]


def describe_target_groups(self, *args, **kwargs):
    _sync_load_balancer_arns(self)
    return _original_describe_target_groups(self, *args, **kwargs)


_original_create_listener = ELBv2Backend.create_listener
_original_modify_listener = ELBv2Backend.modify_listener
_original_create_rule = ELBv2Backend.create_rule
_original_modify_rule = ELBv2Backend.modify_rule


def create_listener(self, load_balancer_arn, protocol, port, ssl_policy, certificate,
                    actions, *args, **kwargs):
    _check_and_hide_oidc_secrets(actions, modifying=False)
    _check_network_forward(self, self.load_balancers.get(load_balancer_arn), actions)
    listener = _original_create_listener(
        self, load_balancer_arn, protocol, port, ssl_policy, certificate, actions,
        *args, **kwargs)
    _strip_network_stickiness(self.load_balancers.get(load_balancer_arn),
                              listener.default_actions)
    _note_associations(self)
    return listener


def modify_listener(self, arn, port=None, protocol=None, ssl_policy=None, certificates=None,
                    actions=None, *args, **kwargs):
    _check_and_hide_oidc_secrets(actions, modifying=True)
    _remember_elb_stale(self.describe_listeners(None, [arn]), "default_actions")
    balancer = _balancer_of_listener(self, arn)
    _check_network_forward(self, balancer, actions)
    listener = _original_modify_listener(
        self, arn, port, protocol, ssl_policy, certificates, actions, *args, **kwargs)
    _strip_network_stickiness(balancer, listener.default_actions)
    _note_associations(self)
    return listener


def create_rule(self, listener_arn, conditions, priority, actions, *args, **kwargs):
    balancer = _balancer_of_listener(self, listener_arn)
    if balancer is not None and balancer.type == "network":
        raise ElbValidationError(
            "Listener rules are not supported for listeners of Network Load Balancers")
    _check_and_hide_oidc_secrets(actions, modifying=False)
    rule = _original_create_rule(self, listener_arn, conditions, priority, actions,
                                 *args, **kwargs)
    _note_associations(self)
    return rule


def modify_rule(self, rule_arn, conditions, actions, *args, **kwargs):
    _check_and_hide_oidc_secrets(actions, modifying=True)
    _remember_elb_stale(self.describe_rules(None, [rule_arn]), "actions")
    rule = _original_modify_rule(self, rule_arn, conditions, actions, *args, **kwargs)
    _note_associations(self)
    return rule


# Listener or rule ARN -> (attribute, its actions before the last Modify*, shown until).
ELB_STALE: dict[str, tuple[str, Any, float]] = {}


def _remember_elb_stale(found, attribute: str) -> None:
    """Before a Modify*: keep the listener's or rule's actions for Describe* to show for
    `elb_stale_seconds` (the first snapshot stands while it is shown)."""
    if CONFIG.elb_stale_seconds <= 0 or not found:
        return
    item = found[0]
    now = time.monotonic()
    shown = ELB_STALE.get(item.arn)
    if shown is not None and shown[2] > now:
        return
    ELB_STALE[item.arn] = (attribute, copy.deepcopy(getattr(item, attribute)),
                           now + CONFIG.elb_stale_seconds)


def _elb_view(item):
    """What Describe* shows of a listener or rule: its stale actions while they are shown."""
    shown = ELB_STALE.get(getattr(item, "arn", None))
    if shown is None or shown[2] <= time.monotonic():
        return item
    view = copy.copy(item)
    setattr(view, shown[0], shown[1])
    return view


PAGE_MARKER = "rig-page-"


def paged(original, items_key: str, everything):
    """Wrap a Describe* response method so it pages `elb_page_size` items at a time with an
    opaque NextMarker, as real ELBv2 may (moto pages DescribeRules and DescribeLoadBalancers
    at 50 and the rest not at all)."""

    def wrapper(self):
        size = CONFIG.elb_page_size
        stale = CONFIG.elb_stale_seconds > 0 and items_key in ("Rules", "Listeners")
        if not size and not stale:
            return original(self)
        items = [_elb_view(i) for i in everything(self)]
        size = size or max(len(items), 1)
        asked = self._get_int_param("PageSize", None)
        size = min(size, asked) if asked else size
        marker = self._get_param("Marker")
        start = 0
        if marker:
            if not str(marker).startswith(PAGE_MARKER) or not marker[len(PAGE_MARKER):].isdigit():
                raise ElbValidationError(f"The marker '{marker}' is not valid")
            start = int(marker[len(PAGE_MARKER):])
        page = items[start:start + size]
        more = start + size < len(items)
        return ActionResult({items_key: page,
                             "NextMarker": f"{PAGE_MARKER}{start + size}" if more else None})

    wrapper.__name__ = original.__name__
    wrapper.__doc__ = original.__doc__
    return wrapper


def _all_rules(self):
    return self.elbv2_backend.describe_rules(
        self._get_param("ListenerArn"), self._get_param("RuleArns"))


def _all_listeners(self):
    load_balancer_arn = self._get_param("LoadBalancerArn")
    listener_arns = self._get_param("ListenerArns", [])
    if not load_balancer_arn and not listener_arns:
        raise ElbValidationError("You must specify either listener ARNs or a load balancer ARN")
    return self.elbv2_backend.describe_listeners(load_balancer_arn, listener_arns)


def _all_target_groups(self):
    return self.elbv2_backend.describe_target_groups(
        self._get_param("LoadBalancerArn"),
        self._get_param("TargetGroupArns", []),
        self._get_param("Names", []),
    )


# --------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------


def install_patches() -> None:
    ecs_backend = EC2ContainerServiceBackend
    ecs_backend.create_task_set = create_task_set
    ecs_backend.update_task_set = update_task_set
    ecs_backend.update_service_primary_task_set = update_service_primary_task_set
    ecs_backend.delete_task_set = delete_task_set
    ecs_backend.create_cluster = create_cluster
    ecs_backend.create_service = create_service

    ecs_response = EC2ContainerServiceResponse
    ecs_response.delete_task_set = delete_task_set_response
    ecs_response.describe_task_sets = describe_task_sets_response
    ecs_response.describe_services = describe_services_response
    ecs_response._dispatch = ecs_dispatch

    elb = ELBv2Backend
    elb.create_load_balancer = create_load_balancer
    elb.create_rule = validate_forward_actions(create_rule, "actions", "actions")
    elb.modify_rule = validate_forward_actions(modify_rule, "actions", "actions")
    elb.create_listener = validate_forward_actions(create_listener, "actions", "defaultActions")
    elb.modify_listener = validate_forward_actions(modify_listener, "actions", "defaultActions")
    elb.delete_rule = delete_rule
    elb.describe_target_groups = describe_target_groups

    native.install(sys.modules[__name__])

    elb_response = ELBV2Response
    elb_response.describe_rules = paged(elb_response.describe_rules, "Rules", _all_rules)
    elb_response.describe_listeners = paged(
        elb_response.describe_listeners, "Listeners", _all_listeners)
    elb_response.describe_target_groups = paged(
        elb_response.describe_target_groups, "TargetGroups", _all_target_groups)
    install_cloudwatch_patches()


# --------------------------------------------------------------------------
# Traffic model (GET/DELETE /_rig/traffic)
# --------------------------------------------------------------------------


def _truly_steady(ts: TaskSet) -> bool:
    """Steady by the scheduler's true state (never the stale copy Describe* may show)."""
    return (ts.status != "DRAINING" and ts.stabilityStatus == "STEADY_STATE"
            and getattr(ts, "pendingCount", 0) == 0
            and getattr(ts, "runningCount", None) == getattr(ts, "computedDesiredCount", None))


def _scale_value(scale: dict | None) -> float:
    return float((scale or {}).get("value", 100.0))


def _forward_weights(actions) -> dict[str, int]:
    """Target group ARN -> weight of a rule's or listener's forward actions."""
    weights: dict[str, int] = {}
    for action in actions or []:
        data = getattr(action, "data", action) or {}
        if data.get("Type") != "forward":
            continue
        groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            for group in groups:
                arn = group.get("TargetGroupArn")
                weight = int(group.get("Weight", 1))
                weights[arn] = weights.get(arn, 0) + weight
        elif data.get("TargetGroupArn"):
            weights[data["TargetGroupArn"]] = weights.get(data["TargetGroupArn"], 0) + 1
    return weights


def _routers():
    """(router ARN, {target group: weight}) of every listener default action and rule."""
    for account in list(elbv2_backends.values()):
        for backend in list(account.values()):
            for balancer in list(backend.load_balancers.values()):
                for listener in list(balancer.listeners.values()):
                    yield listener.arn, _forward_weights(listener.default_actions)
                    for rule in list(listener._non_default_rules.values()):
                        yield rule.arn, _forward_weights(rule.actions)


def _ecs_backends():
    for account in list(ecs_backends.values()):
        yield from list(account.values())


class TaskSetTraffic:
    """What the model knows of one task set: whether it is unproven (made, or scaled up, and
    not steady since) and the share of each router it held when it became so (its cap)."""

    def __init__(self, unproven: bool, caps: dict[str, float]):
        self.unproven = unproven
        self.caps = caps
        self.episode = 1
        self.shares: dict[str, float] = {}


class TrafficModel:
    """Which task set gets which share of production traffic, sampled after every ECS and
    ELBv2 request: a router's (listener default action or rule) weight w of T on a target
    group is split equally among the live task sets registered with it.  A violation is an
    unproven task set holding more of a router than its cap, on a router some steady task
    set has served (a router nothing steady ever served, as at bootstrap, has no traffic to
    protect); mixed is a weighted target group serving two task definitions at once.

    Shares only change through writes, so a read costs O(unproven task sets) (it can only
    end an unproven episode); a write, or a read that ended one, costs O(routers + task
    sets).  All state is guarded by ECS_LOCK."""

    EPSILON = 1e-9

    def __init__(self):
        self.sets: dict[str, TaskSetTraffic] = {}
        self.lit: set[str] = set()  # routers a steady task set has held a share of
        self.forget_all()

    def reset_records(self) -> None:
        """DELETE /_rig/traffic: forget what was recorded; keep tracking the task sets (and
        the episodes already reported, so a phase is not blamed for an earlier one's)."""
        self.samples = 0
        self.violations: list[dict[str, Any]] = []
        self.mixed: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def forget_all(self) -> None:
        """moto's reset, or the model switched off: no task set is known any more."""
        self.sets.clear()
        self.lit.clear()
        self.seen_violations: set[tuple[str, str, int]] = set()
        self.active_mixed: set[tuple[str, tuple[str, ...]]] = set()
        self.reset_records()

    # --- hooks from the ECS patches (under ECS_LOCK) ---

    def created(self, ts: TaskSet) -> None:
        """A new task set is unproven from its creation, with no traffic allowed."""
        if CONFIG.traffic_model:
            self.sets[ts.task_set_arn] = TaskSetTraffic(True, {})

    def scaling_up(self, ts: TaskSet) -> None:
        """UpdateTaskSet raising the scale: unproven again, allowed the shares it holds now
        (the shares of the last sample, which every write refreshes)."""
        state = self.sets.get(ts.task_set_arn) if CONFIG.traffic_model else None
        if state is None:
            return
        if state.unproven and _truly_steady(ts):
            self._proven(ts.task_set_arn, state)
        if not state.unproven:
            state.unproven, state.caps = True, dict(state.shares)

    def _proven(self, arn: str, state: TaskSetTraffic) -> None:
        state.unproven, state.caps = False, {}
        state.episode += 1

    # --- sampling ---

    def sample(self, write: bool, refresh: bool = True) -> None:
        """One sample after a request; `write` when it may have changed shares; `refresh`
        unless the request already advanced the scheduler (ecs_dispatch does)."""
        if not CONFIG.traffic_model:
            return
        try:
            with ECS_LOCK:
                self.samples += 1
                if not write and not any(s.unproven for s in self.sets.values()):
                    return
                for backend in _ecs_backends() if refresh else ():
                    refresh_backend(backend)
                if write or self._end_steady_episodes():
                    self._evaluate()
        except Exception as exc:  # noqa: BLE001 - reported by GET /_rig/traffic
            traceback.print_exc(file=sys.stderr)
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _end_steady_episodes(self) -> bool:
        """Cheap pass for reads: did an unproven task set turn steady?"""
        ended = False
        unproven = {arn for arn, state in self.sets.items() if state.unproven}
        if not unproven:
            return False
        for backend in _ecs_backends():
            for service in backend.services.values():
                for ts in service.task_sets:
                    if ts.task_set_arn in unproven and _truly_steady(ts):
                        self._proven(ts.task_set_arn, self.sets[ts.task_set_arn])
                        ended = True
        return ended

    def _evaluate(self) -> None:
        by_group: dict[str, list[tuple[Service, TaskSet]]] = {}
        live: dict[str, TaskSet] = {}
        for backend in _ecs_backends():
            for service in backend.services.values():
                for ts in service.task_sets:
                    if ts.status == "DRAINING":
                        continue
                    live[ts.task_set_arn] = ts
                    for lb in ts.load_balancers or []:
                        if lb.get("targetGroupArn"):
                            by_group.setdefault(lb["targetGroupArn"], []).append((service, ts))

        shares: dict[str, dict[str, float]] = {}
        weighted: set[str] = set()
        for router, weights in _routers():
            total = sum(w for w in weights.values() if w > 0)
            for group, weight in weights.items():
                holders = by_group.get(group, [])
                if weight <= 0 or not holders:
                    continue
                weighted.add(group)
                share = weight / total / len(holders)
                for _, ts in holders:
                    held = shares.setdefault(ts.task_set_arn, {})
                    held[router] = held.get(router, 0.0) + share

        for arn in list(self.sets):
            if arn not in live:
                del self.sets[arn]
        for arn, ts in live.items():
            state = self.sets.get(arn)
            if state is None:  # made while the model was off: judged from now on
                state = self.sets[arn] = TaskSetTraffic(
                    not _truly_steady(ts), dict(shares.get(arn, {})))
            elif state.unproven and _truly_steady(ts):
                self._proven(arn, state)
            state.shares = shares.get(arn, {})
            if not state.unproven:
                self.lit.update(state.shares)

        stamp = utcnow().isoformat()
        services = {ts.task_set_arn: service for group in by_group.values()
                    for service, ts in group}
        for arn, state in self.sets.items():
            if not state.unproven:
                continue
            for router, share in state.shares.items():
                cap = state.caps.get(router, 0.0)
                key = (arn, router, state.episode)
                if router not in self.lit or share <= cap + self.EPSILON \
                        or key in self.seen_violations:
                    continue
                self.seen_violations.add(key)
                ts = live[arn]
                self.violations.append({
                    "at": stamp, "task_set": ts.id, "task_set_arn": arn,
                    "service": services[arn].name if arn in services else None,
                    "task_definition": ts.task_definition, "router": router,
                    "share": round(share, 6), "cap": round(cap, 6),
                })

        active = set()
        for group in weighted:
            definitions = tuple(sorted({ts.task_definition for _, ts in by_group[group]}))
            if len(definitions) < 2:
                continue
            key = (group, definitions)
            active.add(key)
            if key not in self.active_mixed:
                self.mixed.append({"at": stamp, "target_group": group,
                                   "task_definitions": list(definitions)})
        self.active_mixed = active

    def view(self) -> dict[str, Any]:
        with ECS_LOCK:
            return {"enabled": CONFIG.traffic_model, "samples": self.samples,
                    "violations": list(self.violations), "mixed": list(self.mixed),
                    "errors": list(self.errors)}


TRAFFIC = TrafficModel()


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------


WRITE_PREFIXES = ("Create", "Update", "Delete", "Modify", "Tag", "Untag", "Register",
                  "Deregister")


class WriteWindow:
    """Counts write calls between POST and DELETE /_rig/window: a harness opens one around
    each `terraform plan` and fails the test if the plan wrote anything."""

    def __init__(self):
        self.lock = threading.Lock()
        self.name: str | None = None
        self.open = False
        self.writes: dict[str, int] = {}

    def start(self, name: str) -> None:
        with self.lock:
            self.name, self.open, self.writes = name, True, {}

    def stop(self) -> None:
        with self.lock:
            self.open = False

    def note(self, operation: str) -> None:
        action = operation.partition(".")[2]
        if self.open and action.startswith(WRITE_PREFIXES):
            with self.lock:
                self.writes[operation] = self.writes.get(operation, 0) + 1

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {"name": self.name, "open": self.open, "writes": dict(sorted(self.writes.items())),
                    "write_total": sum(self.writes.values())}


WINDOW = WriteWindow()


def operation_of(environ) -> str:
    """`ecs.CreateTaskSet` from X-Amz-Target, `elbv2.ModifyRule` from the form's Action=."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, action = target.rpartition(".")
        return f"{'ecs' if prefix + '.' == ECS_TARGET_PREFIX else prefix.lower()}.{action}"
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length or "form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
        return "unknown"
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    action = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
    scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
    service = scope[3] if len(scope) > 3 else "elasticloadbalancing"
    return f"{'elbv2' if service == 'elasticloadbalancing' else service}.{action}"


def model_request(environ, operation: str | None) -> tuple[bool, bool] | None:
    """(whether it is an ECS request, whether it may write: anything but Describe*/List*/
    Get*) for a request the traffic model samples after; None for any other service."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        if not target.startswith(ECS_TARGET_PREFIX):
            return None
    elif "/elasticloadbalancing/" not in environ.get("HTTP_AUTHORIZATION", ""):
        return None
    action = (operation or operation_of(environ)).partition(".")[2]
    return bool(target), not action.startswith(("Describe", "List", "Get"))


# --------------------------------------------------------------------------
# CloudWatch: what moto 5.2.6 lacks
# --------------------------------------------------------------------------
#
# moto 5.2.6 serves CloudWatch over Smithy RPC v2 CBOR itself (the protocol the AWS SDK for
# Rust speaks), and its GetMetricData returns PutMetricData points for MetricStat queries.
# What it lacks, patched below: an alarm's EvaluationState; percentile statistics (pNN);
# a result StatusCode other than Complete; pages (MaxDatapoints, NextToken); dimensions that
# match whatever order a query lists them in.

METRIC_STATUSES = ("PartialData", "InternalError", "Forbidden")
PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")
# NextToken -> the results still to send (a token is good once, as in moto's ListMetrics).
METRIC_PAGES: dict[str, list[dict[str, Any]]] = {}
_original_statistic = Statistics.get_statistics_for_type


def _alarm_evaluation_state(alarm) -> str | None:
    """DescribeAlarms reports EvaluationState (PARTIAL_DATA, EVALUATION_FAILURE,
    EVALUATION_ERROR) when CloudWatch cannot evaluate a metric alarm normally."""
    return CONFIG.alarm_evaluation_states.get(alarm.name)


def statistic(self, stat: str):
    """Percentiles (`p99`, `p99.9`) over the values published in the period, nearest rank.
    CloudWatch computes them for metrics published as values (ALB's TargetResponseTime p99);
    moto answers None. Statistic sets carry no values, so a period of only those has none."""
    match = PERCENTILE.fullmatch(stat)
    if match is None:
        return _original_statistic(self, stat)
    values = sorted(self.metric_single_values_list)
    if not values:
        return None
    rank = math.ceil(float(match.group(1)) / 100.0 * len(values))
    return values[min(max(rank, 1), len(values)) - 1]


def dimension_before(self, other) -> bool:
    """CloudWatch matches a metric's dimensions as a set, in any order. moto compares the
    sorted lists, but its Dimension.__lt__ compares a value with a name, so two orders of the
    same dimensions may sort differently and a query finds no points; order by (name, value)."""
    return (self.name or "", self.value or "") < (other.name or "", other.value or "")


def _metric_name(query: dict[str, Any]) -> str | None:
    return ((query.get("MetricStat") or {}).get("Metric") or {}).get("MetricName")


def get_metric_data_response(self) -> ActionResult:
    """GetMetricData with what real CloudWatch adds to moto's answer:
    - a result per query whose metric `metric_data_statuses` names gets that StatusCode
      (PartialData keeps its points; InternalError and Forbidden have none);
    - pages: at most MaxDatapoints points per answer (or `metric_data_page_points`, if
      smaller); a result cut short says PartialData, and NextToken brings the rest."""
    params = self._get_params()
    token = params.get("NextToken")
    if token:
        results = METRIC_PAGES.pop(token, None)
        if results is None:
            raise CloudWatchValidationError("The parameter NextToken is invalid.")
    else:
        queries = params.get("MetricDataQueries", [])
        for i, query in enumerate(queries, 1):
            if "MetricStat" not in query and "Expression" not in query:
                raise CloudWatchValidationError(
                    f"The parameter MetricDataQueries.member.{i}.MetricStat is required.\n")
        results = self.cloudwatch_backend.get_metric_data(
            start_time=params["StartTime"], end_time=params["EndTime"], queries=queries,
            scan_by=params.get("ScanBy") or "TimestampDescending")
        names = {q["Id"]: _metric_name(q) for q in queries}
        for result in results:
            # a percentile of a period with no values is no point, not a null one
            kept = [(t, v) for t, v in zip(result["timestamps"], result["values"]) if v is not None]
            result["timestamps"], result["values"] = [t for t, _ in kept], [v for _, v in kept]
            status = CONFIG.metric_data_statuses.get(names.get(result["id"]) or "")
            if status:
                result["status_code"] = status
                if status != "PartialData":
                    result["timestamps"], result["values"] = [], []
    limit = min(int(params.get("MaxDatapoints") or 100_800),
                CONFIG.metric_data_page_points or 100_800)
    page, rest, room = [], [], limit
    for result in results:
        if rest or len(result["values"]) > room:
            if not rest:
                page.append({**result, "values": result["values"][:room],
                             "timestamps": result["timestamps"][:room],
                             "status_code": "PartialData"})
                result = {**result, "values": result["values"][room:],
                          "timestamps": result["timestamps"][room:]}
            rest.append(result)
            room = 0
            continue
        page.append(result)
        room -= len(result["values"])
    answer: dict[str, Any] = {"MetricDataResults": page}
    if rest:
        token = f"rig-{len(METRIC_PAGES)}-{time.monotonic_ns()}"
        METRIC_PAGES[token] = rest
        answer["NextToken"] = token
    return ActionResult(answer)


def install_cloudwatch_patches() -> None:
    Alarm.evaluation_state = property(_alarm_evaluation_state)
    Dimension.__lt__ = dimension_before
    Statistics.get_statistics_for_type = statistic
    CloudWatchResponse.get_metric_data = get_metric_data_response


class RigApp:
    """WSGI front: /_rig/config, /_rig/window and /_rig/traffic for the test harness,
    everything else to moto (followed by a traffic sample for ECS and ELBv2)."""

    def __init__(self, moto_app):
        self.moto_app = moto_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path == "/_rig/config":
            return self.config_endpoint(environ, start_response)
        if path == "/_rig/window":
            return self.window_endpoint(environ, start_response)
        if path == "/_rig/traffic":
            return self.traffic_endpoint(environ, start_response)
        operation = operation_of(environ) if WINDOW.open else None
        if operation is not None:
            WINDOW.note(operation)
        sampled = model_request(environ, operation)
        response = self.moto_app(environ, start_response)
        if path == "/moto-api/reset":
            with ECS_LOCK:
                TRAFFIC.forget_all()
        elif sampled is not None:
            ecs, write = sampled
            TRAFFIC.sample(write, refresh=not ecs)
        return response

    @staticmethod
    def traffic_endpoint(environ, start_response):
        """GET: the traffic model's samples, violations and mixed moments; DELETE: forget
        them (the model keeps tracking the task sets)."""
        method = environ.get("REQUEST_METHOD", "GET")
        status = "200 OK"
        if method == "DELETE":
            with ECS_LOCK:
                TRAFFIC.reset_records()
        elif method != "GET":
            status = "405 Method Not Allowed"
        body = TRAFFIC.view() if status.startswith("200") else {"error": method}
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    @staticmethod
    def window_endpoint(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        status = "200 OK"
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                name = (json.loads(environ["wsgi.input"].read(length) or b"{}") or {}).get("name")
            except (ValueError, AttributeError):
                name = None
            if not isinstance(name, str) or not name:
                status = "400 Bad Request"
            else:
                WINDOW.start(name)
        elif method == "DELETE":
            WINDOW.stop()
        elif method != "GET":
            status = "405 Method Not Allowed"
        body = WINDOW.view() if status.startswith("200") else {"error": "POST {\"name\": ...}"}
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

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
                    if not CONFIG.traffic_model:
                        TRAFFIC.forget_all()
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
