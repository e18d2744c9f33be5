#!/usr/bin/env python3
"""Fault-injecting, call-counting HTTP proxy between the ecsx provider and the emulator.

The provider (through ``AWS_ENDPOINT_URL``) talks to this proxy, which forwards
every request to the emulator and counts it by AWS operation.  Scripted rules
make chosen calls fail the way real AWS fails: throttling, 5xx, a reset
connection, a response slower than the SDK's attempt timeout, a 500 *after*
the request took effect, and eventual consistency (a new task set not listed
yet, a weight change not visible yet).  Standard library only.

Usage:
    python tests/rig/proxy.py --upstream http://127.0.0.1:EMU [--port 0] [--seed N]

Prints exactly one line ``READY <port>`` on stdout, then serves until
SIGTERM/SIGINT.

Operations are named ``<service>.<Action>``: ``ecs.CreateTaskSet`` from the
``X-Amz-Target`` header (JSON protocol), ``elbv2.ModifyRule`` from the form
field ``Action=`` (query protocol; the service from the credential scope of
the ``Authorization`` header, ELBv2 when it names none).

Admin endpoints (same port; never counted, never faulted):
    GET  /_proxy/stats  -> {"calls": {"ecs.CreateTaskSet": n, ...}, "total": n,
                            "faults": {"throttle": n, ...},
                            "retries": n, "retries_by_operation": {...},
                            "held": n}
         ``retries`` counts requests whose ``amz-sdk-request`` header says
         attempt > 1 (the SDK's own retries); ``held`` is the number of
         responses being held right now (kind ``hold_after_commit``).
    POST /_proxy/reset  -> clears counters, rules, rate limits and eventual-consistency
                           memory, and releases held responses
    GET  /_proxy/faults -> the rules in force, with what is left of them
    POST /_proxy/faults <- a JSON list of rules (or {"rules": [...], "seed": n});
                           replaces the rules in force and releases held responses
    DELETE /_proxy/faults  clears the rules only
    POST /_proxy/window <- {"name": "plan"}: starts counting write calls (any operation
                           whose action starts with Create, Update, Delete, Modify, Tag,
                           Untag, Register or Deregister) in a window of that name
    GET  /_proxy/window -> {"name": ..., "open": bool, "writes": {"ecs.TagResource": n},
                            "write_total": n, "calls": {...}} for the current window
    DELETE /_proxy/window  ends the window and answers as GET does; a harness fails a
                           `terraform plan` whose window saw any write

Every operation the proxy forwards is also appended, once per proxy run, to
``target/rig-calls/proxy-<pid>.txt`` (``ECSX_RIG_CALLS`` names another folder, an empty
value turns it off): the record tests/rig/test_iam_policy.py checks the IAM policy against.
    GET  /_proxy/timings -> {"upstream_seconds": {"ecs.DescribeServices": s, ...},
                             "upstream_max_seconds": {...}, "busy_seconds": s,
                             "forwarded": n}: how long the emulator took to answer the
                            forwarded calls (summed per operation, and the longest), and
                            for how long at least one call was waiting on it (busy_seconds,
                            the union of the calls' intervals); cleared by /_proxy/reset
    GET  /_proxy/events -> the last 10,000 forwarded calls as
                           [{"operation", "start", "end", "status"}] (start/end: Unix
                           time in seconds, when the proxy sent the call on and when the
                           emulator's answer came back); cleared by /_proxy/reset
    GET  /_proxy/limits -> the rate limits in force
    POST /_proxy/limits <- {"limits": [LIMIT, ...]} or {"preset": "aws"}: replaces the
                           rate limits (token buckets) in force
    DELETE /_proxy/limits  no rate limits

A rate limit (AWS throttles per account and region with token buckets; ``--limits aws``
or ``{"preset": "aws"}`` installs AWS_LIMITS below):
    {"operation": "ecs.*" | "elbv2.Describe*" | "ecs.DescribeServices",
     "capacity": 50,       # bucket size: the burst
     "refill": 20,         # tokens per second: the sustained rate
     "shared": false}      # true: one bucket for every matching operation;
                           # false (default): one bucket per operation
A call that finds its bucket empty is answered with the service's throttling error
(not forwarded) and counted in ``throttled`` / ``throttled_by_operation`` of the stats.
The first limit that matches an operation is the one that applies.

A rule:
    {"operation": "ecs.CreateTaskSet" | "elbv2.*" | "*",
     "kind": KIND,
     "times": N            # apply to the next N matching calls (default: always)
     "probability": p,     # or: apply to each matching call with probability p
     "skip": K,            # let the first K matching calls through untouched
     "seconds": s}         # for slow, hold_after_commit and the consistency kinds

Request kinds (the first matching rule wins):
    throttle          400 ThrottlingException (ECS, JSON) / Throttling (ELBv2, XML)
    too_many_requests 429 TooManyRequestsException
    http500           500 ServerException / InternalFailure, request not forwarded
    http503           503 ServiceUnavailableException / ServiceUnavailable
    limit_exceeded    400 LimitExceededException: a service quota, which the AWS SDKs
                      class as throttling by its code although retrying cannot help
    service_not_active 400 ServiceNotActiveException (ECS): the service is being deleted
    access_denied     AccessDeniedException (ECS, 400) / AccessDenied (query and CloudWatch's
                      CBOR, 403): a policy or expired credentials; no SDK retries it
    reset             the connection is reset (RST), request not forwarded
    slow              forwards (the call takes effect), then answers only after
                      ``seconds`` (default 5): longer than the SDK's attempt timeout,
                      so it gives up on the answer and retries
    after_commit_500  forwards (the call takes effect) and then answers 500:
                      the case where retries duplicate creates without clientToken
    hold_after_commit forwards, then holds the answer ``seconds`` (default 60) or
                      until the rules change: the moment a test kills the caller

Eventual-consistency kinds (they shape responses while the rule is in force; each
response they change counts as one fault of that kind in the stats):
    hide_new_task_sets  DescribeTaskSets (and DescribeServices when the rule's
                        operation is "*" or names it) omits task sets created
                        through this proxy in the last ``seconds``; asked for by
                        id or ARN, they come back as failures with reason MISSING
    stale_weights       DescribeRules / DescribeListeners return a rule's or
                        listener's actions as they were before the last
                        ModifyRule / ModifyListener, for ``seconds`` after it
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import random
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import collections
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
ELB_NAMESPACE = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
ET.register_namespace("", ELB_NAMESPACE)

REQUEST_KINDS = {
    "throttle",
    "too_many_requests",
    "http500",
    "http503",
    "reset",
    "slow",
    "after_commit_500",
    "hold_after_commit",
    "limit_exceeded",
    "service_not_active",
    "access_denied",
}
WRITE_PREFIXES = ("Create", "Update", "Delete", "Modify", "Tag", "Untag", "Register",
                  "Deregister")


def is_write(operation: str) -> bool:
    """Whether `<service>.<Action>` changes anything (what a plan must never call)."""
    return operation.partition(".")[2].startswith(WRITE_PREFIXES)


def calls_record_path() -> str | None:
    """Where forwarded operations are recorded: ECSX_RIG_CALLS or target/rig-calls."""
    import os
    folder = os.environ.get("ECSX_RIG_CALLS")
    if folder == "":
        return None
    if folder is None:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        folder = os.path.join(root, "target", "rig-calls")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return os.path.join(folder, f"proxy-{os.getpid()}.txt")
CONSISTENCY_KINDS = {"hide_new_task_sets", "stale_weights"}
KINDS = REQUEST_KINDS | CONSISTENCY_KINDS
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
# Credential-scope service names as the SDKs sign them -> short operation prefixes.
SCOPE_SERVICES = {"elasticloadbalancing": "elbv2", "ecs": "ecs", "ec2": "ec2", "sts": "sts",
                  "monitoring": "cloudwatch"}
# Smithy RPC v2 CBOR requests (CloudWatch) name the operation in the path.
RPC_V2_PATH = "/operation/"


class RuleError(ValueError):
    pass


class Rule:
    """One scripted fault and what is left of it."""

    def __init__(self, spec: dict[str, Any]):
        if not isinstance(spec, dict):
            raise RuleError("a rule is a JSON object")
        unknown = set(spec) - {"operation", "kind", "times", "probability", "skip", "seconds"}
        if unknown:
            raise RuleError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
        self.kind = spec.get("kind")
        if self.kind not in KINDS:
            raise RuleError(f"kind must be one of {sorted(KINDS)}, not {self.kind!r}")
        self.operation = spec.get("operation", "*")
        if not isinstance(self.operation, str) or not self.operation:
            raise RuleError("operation must be a non-empty string")
        self.times = spec.get("times")
        self.probability = spec.get("probability")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 0):
            raise RuleError("times must be an integer >= 0")
        if self.probability is not None and not (
            isinstance(self.probability, (int, float)) and 0 <= self.probability <= 1
        ):
            raise RuleError("probability must be a number in 0..1")
        if self.times is not None and self.probability is not None:
            raise RuleError("give times or probability, not both")
        self.skip = spec.get("skip", 0)
        if not isinstance(self.skip, int) or self.skip < 0:
            raise RuleError("skip must be an integer >= 0")
        default_seconds = {"slow": 5.0, "hold_after_commit": 60.0}.get(self.kind, 3.0)
        self.seconds = spec.get("seconds", default_seconds)
        if not isinstance(self.seconds, (int, float)) or self.seconds < 0:
            raise RuleError("seconds must be a number >= 0")
        self.seconds = float(self.seconds)

    def matches(self, operation: str) -> bool:
        if self.operation in ("*", operation):
            return True
        return self.operation.endswith(".*") and operation.startswith(self.operation[:-1])

    def take(self, operation: str, rng: random.Random) -> bool:
        """Whether this rule fires for this call; consumes skip/times. Caller holds the lock."""
        if self.kind not in REQUEST_KINDS or not self.matches(operation):
            return False
        if self.times is not None and self.times <= 0:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.probability is not None and rng.random() >= self.probability:
            return False
        if self.times is not None:
            self.times -= 1
        return True

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"operation": self.operation, "kind": self.kind, "seconds": self.seconds}
        if self.times is not None:
            d["times"] = self.times
        if self.probability is not None:
            d["probability"] = self.probability
        if self.skip:
            d["skip"] = self.skip
        return d


# AWS's published request throttling, per account and region (token buckets):
# - ECS, "Request throttling for the Amazon ECS API" (APIReference/request-throttling.html):
#   token buckets per action group; the page's own example, cluster read actions such as
#   DescribeClusters, has a bucket of 50 tokens; 20 tokens/s is the refill we use for it.
#   Modelled as 50/20 per ECS operation.
# - ELBv2, "Request throttling for the Elastic Load Balancing API"
#   (elasticloadbalancing/latest/userguide/elb-api-throttling.html): non-mutating actions
#   (Describe*) share one bucket of 40 tokens refilled at 10 per second. Mutating actions
#   (ModifyRule, ModifyListener) have their own, smaller buckets; modelled here as one shared
#   bucket of 20 refilled at 5 per second.
AWS_LIMITS = [
    {"operation": "ecs.*", "capacity": 50, "refill": 20, "shared": False},
    {"operation": "elbv2.Describe*", "capacity": 40, "refill": 10, "shared": True},
    {"operation": "elbv2.*", "capacity": 20, "refill": 5, "shared": True},
]


def _glob(pattern: str, operation: str) -> bool:
    if pattern in ("*", operation):
        return True
    return pattern.endswith("*") and operation.startswith(pattern[:-1])


class TokenBucket:
    """``capacity`` tokens, ``refill`` more per second; a call takes one or is throttled."""

    def __init__(self, capacity: float, refill: float, clock=time.monotonic):
        self.capacity = float(capacity)
        self.refill = float(refill)
        self.clock = clock
        self.tokens = self.capacity
        self.at = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.refill)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimits:
    """Token buckets per operation (or shared by a pattern), as AWS throttles."""

    def __init__(self, specs: list[dict[str, Any]], clock=time.monotonic):
        self.specs = []
        for spec in specs:
            if not isinstance(spec, dict) or not isinstance(spec.get("operation"), str):
                raise RuleError(f"a limit needs an operation: {spec!r}")
            cap, refill = spec.get("capacity"), spec.get("refill")
            if not isinstance(cap, (int, float)) or cap < 1 or not isinstance(refill, (int, float)) or refill <= 0:
                raise RuleError(f"a limit needs capacity >= 1 and refill > 0: {spec!r}")
            self.specs.append({"operation": spec["operation"], "capacity": cap, "refill": refill,
                               "shared": bool(spec.get("shared", False))})
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}

    def allow(self, operation: str) -> bool:
        for spec in self.specs:
            if _glob(spec["operation"], operation):
                key = spec["operation"] if spec["shared"] else operation
                bucket = self.buckets.get(key)
                if bucket is None:
                    bucket = self.buckets[key] = TokenBucket(spec["capacity"], spec["refill"], self.clock)
                return bucket.take()
        return True


class ProxyState:
    """Rules, counters and eventual-consistency memory, behind one lock."""

    def __init__(self, upstream: str, seed: int | None = None):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"--upstream must be http://host:port, not {upstream!r}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.release = threading.Event()
        self.record_path = calls_record_path()
        self.recorded: set[str] = set()
        self.window: dict[str, Any] | None = None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.rules: list[Rule] = []
            self.calls: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.retries: Counter[str] = Counter()
            self.throttled: Counter[str] = Counter()
            self.limits = RateLimits([])
            self.held = 0
            self.created: dict[str, float] = {}  # task set ARN -> when created
            self.stale: dict[str, tuple[ET.Element, float]] = {}  # router ARN -> (old actions, until)
            self.window = None
            self.upstream_seconds: Counter[str] = Counter()
            self.upstream_max: dict[str, float] = {}
            self.in_flight = 0
            self.busy_since = 0.0
            self.busy_seconds = 0.0
            self.forwarded = 0
            self.events: collections.deque = collections.deque(maxlen=10_000)
            self._release_holds()

    def _release_holds(self) -> None:
        self.release.set()
        self.release = threading.Event()

    def set_rules(self, body: Any) -> list[dict[str, Any]]:
        seed = None
        if isinstance(body, dict):
            seed = body.get("seed")
            body = body.get("rules", [])
        if not isinstance(body, list):
            raise RuleError("expected a JSON list of rules or {\"rules\": [...]}")
        rules = [Rule(r) for r in body]
        with self.lock:
            self.rules = rules
            if seed is not None:
                self.rng.seed(seed)
            self._release_holds()
            return [r.as_dict() for r in self.rules]

    def set_limits(self, body: Any) -> list[dict[str, Any]]:
        if isinstance(body, dict) and body.get("preset") == "aws":
            specs = AWS_LIMITS
        elif isinstance(body, dict) and isinstance(body.get("limits"), list):
            specs = body["limits"]
        elif isinstance(body, list):
            specs = body
        else:
            raise RuleError('expected {"limits": [...]} or {"preset": "aws"}')
        limits = RateLimits(specs)
        with self.lock:
            self.limits = limits
            return list(limits.specs)

    def limits_view(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.limits.specs)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "total": sum(self.calls.values()),
                "faults": dict(sorted(self.faults.items())),
                "retries": sum(self.retries.values()),
                "retries_by_operation": dict(sorted(self.retries.items())),
                "throttled": sum(self.throttled.values()),
                "throttled_by_operation": dict(sorted(self.throttled.items())),
                "held": self.held,
            }

    def upstream_started(self) -> float:
        """A call goes on to the emulator; returns the start for `upstream_done`."""
        now = time.monotonic()
        with self.lock:
            if self.in_flight == 0:
                self.busy_since = now
            self.in_flight += 1
        return now

    def upstream_done(self, operation: str, started: float, status: int) -> None:
        now = time.monotonic()
        wall = time.time()
        with self.lock:
            took = now - started
            self.upstream_seconds[operation] += took
            self.upstream_max[operation] = max(self.upstream_max.get(operation, 0.0), took)
            self.forwarded += 1
            self.in_flight -= 1
            if self.in_flight == 0:
                self.busy_seconds += now - self.busy_since
            self.events.append({"operation": operation, "start": wall - took, "end": wall,
                                "status": status})

    def timings(self) -> dict[str, Any]:
        with self.lock:
            busy = self.busy_seconds
            if self.in_flight:
                busy += time.monotonic() - self.busy_since
            return {
                "upstream_seconds": dict(sorted(self.upstream_seconds.items())),
                "upstream_max_seconds": dict(sorted(self.upstream_max.items())),
                "busy_seconds": busy,
                "forwarded": self.forwarded,
            }

    def events_view(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events)

    def rules_view(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.as_dict() for r in self.rules]

    def consistency_rule(self, kind: str, operation: str) -> Rule | None:
        with self.lock:
            for r in self.rules:
                if r.kind == kind and r.matches(operation):
                    return r
        return None

    def open_window(self, name: Any) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise RuleError("a window needs a non-empty name")
        with self.lock:
            self.window = {"name": name, "open": True, "writes": Counter(), "calls": Counter()}
        return self.window_view()

    def close_window(self) -> dict[str, Any]:
        with self.lock:
            if self.window is not None:
                self.window["open"] = False
        return self.window_view()

    def window_view(self) -> dict[str, Any]:
        with self.lock:
            w = self.window or {"name": None, "open": False, "writes": Counter(),
                                "calls": Counter()}
            return {
                "name": w["name"],
                "open": w["open"],
                "writes": dict(sorted(w["writes"].items())),
                "write_total": sum(w["writes"].values()),
                "calls": dict(sorted(w["calls"].items())),
            }

    def _record(self, operation: str) -> None:
        """Appends a first-seen operation to the record file (caller holds the lock)."""
        if self.record_path is None or operation in self.recorded or operation == "unknown":
            return
        self.recorded.add(operation)
        try:
            with open(self.record_path, "a", encoding="utf-8") as f:
                f.write(operation + "\n")
        except OSError:
            self.record_path = None

    def on_request(self, operation: str, attempt: int) -> Rule | None:
        """Counts the call and picks the request fault to inject, if any."""
        with self.lock:
            self.calls[operation] += 1
            self._record(operation)
            if self.window is not None and self.window["open"]:
                self.window["calls"][operation] += 1
                if is_write(operation):
                    self.window["writes"][operation] += 1
            if attempt > 1:
                self.retries[operation] += 1
            if not self.limits.allow(operation):
                self.throttled[operation] += 1
                return Rule({"operation": operation, "kind": "throttle"})
            for r in self.rules:
                if r.take(operation, self.rng):
                    self.faults[r.kind] += 1
                    return r
        return None


# --------------------------------------------------------------------------
# Request classification and AWS-shaped error bodies
# --------------------------------------------------------------------------


def operation_of(headers, body: bytes, path: str = "") -> str:
    if headers.get("smithy-protocol") == "rpc-v2-cbor" and RPC_V2_PATH in path:
        return f"cloudwatch.{path.rsplit(RPC_V2_PATH, 1)[1].split('?')[0]}"
    target = headers.get("X-Amz-Target", "")
    if target:
        prefix, _, action = target.rpartition(".")
        service = "ecs" if prefix + "." == ECS_TARGET_PREFIX else prefix.split("_")[0].lower()
        return f"{service}.{action}"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    action = (form.get("Action") or [""])[0]
    if not action:
        return "unknown"
    service = "elbv2"
    auth = headers.get("Authorization", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = SCOPE_SERVICES.get(scope[3], scope[3])
    return f"{service}.{action}"


def attempt_of(headers) -> int:
    """The SDK's attempt number from ``amz-sdk-request: ttl=...; attempt=2; max=26``."""
    for part in headers.get("amz-sdk-request", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "attempt" and value.isdigit():
            return int(value)
    return 1


ECS_ERRORS = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "too_many_requests": (429, "TooManyRequestsException", "Too many requests"),
    "http500": (500, "ServerException", "Injected internal error"),
    "after_commit_500": (500, "ServerException", "Injected internal error after commit"),
    "http503": (503, "ServiceUnavailableException", "Service unavailable"),
    "limit_exceeded": (400, "LimitExceededException",
                       "The limit for the resource was exceeded. Raise the service quota."),
    "service_not_active": (400, "ServiceNotActiveException", "Service was not ACTIVE."),
    "access_denied": (400, "AccessDeniedException", "User is not authorized to perform this action"),
}
QUERY_ERRORS = {
    "throttle": (400, "Throttling", "Rate exceeded", "Sender"),
    "too_many_requests": (429, "TooManyRequestsException", "Too many requests", "Sender"),
    "http500": (500, "InternalFailure", "Injected internal error", "Receiver"),
    "after_commit_500": (500, "InternalFailure", "Injected internal error after commit", "Receiver"),
    "http503": (503, "ServiceUnavailable", "Service unavailable", "Receiver"),
    "limit_exceeded": (400, "LimitExceededException", "The limit was exceeded.", "Sender"),
    "service_not_active": (400, "ValidationError", "Service was not ACTIVE.", "Sender"),
    "access_denied": (403, "AccessDenied", "User is not authorized to perform this action", "Sender"),
}


def error_response(kind: str, operation: str) -> tuple[int, dict[str, str], bytes]:
    request_id = str(uuid.uuid4())
    if operation.startswith("ecs."):
        status, code, message = ECS_ERRORS[kind]
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, body
    status, code, message, side = QUERY_ERRORS[kind]
    if operation.startswith("cloudwatch."):
        # CloudWatch answers the current SDKs in Smithy RPC v2 CBOR.
        import cbor2
        body = cbor2.dumps({"__type": code, "message": message})
        return status, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
                        "x-amzn-RequestId": request_id}, body
    body = (
        f'<ErrorResponse xmlns="{ELB_NAMESPACE}"><Error><Type>{side}</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body


# --------------------------------------------------------------------------
# Eventual consistency: response rewriting
# --------------------------------------------------------------------------


def _hidden_arns(state: ProxyState, seconds: float) -> set[str]:
    now = time.monotonic()
    with state.lock:
        return {arn for arn, at in state.created.items() if now - at < seconds}


def _is_hidden(ts: dict[str, Any], hidden: set[str]) -> bool:
    return ts.get("taskSetArn") in hidden


def hide_task_sets(
    operation: str, request: bytes, body: bytes, hidden: set[str]
) -> tuple[bytes, int]:
    """The response without the hidden task sets, and how many it left out."""
    if not hidden:
        return body, 0
    try:
        doc = json.loads(body)
    except ValueError:
        return body, 0
    count = 0
    if operation == "ecs.DescribeTaskSets":
        wanted = (json.loads(request or b"{}") or {}).get("taskSets") or []
        kept, gone = [], []
        for ts in doc.get("taskSets", []):
            (gone if _is_hidden(ts, hidden) else kept).append(ts)
        doc["taskSets"] = kept
        count = len(gone)
        failures = doc.setdefault("failures", [])
        for ts in gone:
            for ident in wanted:
                if ident in (ts.get("taskSetArn"), ts.get("id")):
                    failures.append({"arn": ident, "reason": "MISSING"})
    elif operation == "ecs.DescribeServices":
        for svc in doc.get("services", []):
            listed = svc.get("taskSets", [])
            svc["taskSets"] = [t for t in listed if not _is_hidden(t, hidden)]
            count += len(listed) - len(svc["taskSets"])
    return (json.dumps(doc).encode(), count) if count else (body, 0)


def _find(elem: ET.Element, name: str) -> ET.Element | None:
    return elem.find(f"{{{ELB_NAMESPACE}}}{name}")


def _router_members(root: ET.Element, listeners: bool):
    """(arn, actions element, member) for each rule or listener in a Describe* response."""
    container, arn_tag, actions_tag = (
        ("Listeners", "ListenerArn", "DefaultActions") if listeners else ("Rules", "RuleArn", "Actions")
    )
    for coll in root.iter(f"{{{ELB_NAMESPACE}}}{container}"):
        for member in coll.findall(f"{{{ELB_NAMESPACE}}}member"):
            arn = _find(member, arn_tag)
            if arn is not None and arn.text:
                yield arn.text.strip(), _find(member, actions_tag), member, actions_tag


def current_actions(state: ProxyState, headers, operation: str, arn: str) -> ET.Element | None:
    """Asks the emulator for a rule's or listener's actions right now (before a Modify*)."""
    listeners = operation == "elbv2.ModifyListener"
    action, field = ("DescribeListeners", "ListenerArns") if listeners else ("DescribeRules", "RuleArns")
    body = urllib.parse.urlencode(
        {"Action": action, f"{field}.member.1": arn, "Version": "2015-12-01"}
    ).encode()
    fwd = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        # moto picks the region and service from the credential scope; it checks no signature
        "Authorization": headers.get("Authorization", ""),
        "X-Amz-Date": headers.get("X-Amz-Date", ""),
    }
    try:
        status, _, data = forward(state, "POST", "/", fwd, body)
        if status != 200:
            return None
        for found, actions, _, _ in _router_members(ET.fromstring(data), listeners):
            if found == arn and actions is not None:
                return copy.deepcopy(actions)
    except (OSError, ET.ParseError):
        return None
    return None


def stale_routers(state: ProxyState, operation: str, body: bytes) -> tuple[bytes, int]:
    """The response with stale actions put back, and how many routers differed."""
    now = time.monotonic()
    with state.lock:
        stale = {arn: old for arn, (old, until) in state.stale.items() if now < until}
    if not stale:
        return body, 0
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body, 0
    changed = 0
    for arn, actions, member, tag in _router_members(root, operation == "elbv2.DescribeListeners"):
        if arn not in stale:
            continue
        old = copy.deepcopy(stale[arn])
        old.tag = f"{{{ELB_NAMESPACE}}}{tag}"
        if actions is not None and ET.tostring(actions) == ET.tostring(old):
            continue
        if actions is not None:
            member.remove(actions)
        member.append(old)
        changed += 1
    return (ET.tostring(root, encoding="utf-8"), changed) if changed else (body, 0)


def router_arn(operation: str, body: bytes) -> str | None:
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    key = "ListenerArn" if operation == "elbv2.ModifyListener" else "RuleArn"
    return (form.get(key) or [None])[0]


# --------------------------------------------------------------------------
# Forwarding
# --------------------------------------------------------------------------


def forward(state: ProxyState, method: str, path: str, headers: dict[str, str], body: bytes):
    conn = http.client.HTTPConnection(state.upstream_host, state.upstream_port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecsx-fault-proxy"
    state: ProxyState  # set on the subclass made by serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, headers, body: bytes) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, doc: Any) -> None:
        self._reply(status, [("Content-Type", "application/json")], json.dumps(doc).encode())

    # ---- admin -----------------------------------------------------------

    def _admin(self, body: bytes) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        method = self.command
        try:
            if path == "/_proxy/stats" and method == "GET":
                return self._json(200, self.state.stats())
            if path == "/_proxy/reset" and method == "POST":
                self.state.reset()
                return self._json(200, self.state.stats())
            if path == "/_proxy/faults" and method == "GET":
                return self._json(200, self.state.rules_view())
            if path == "/_proxy/faults" and method == "POST":
                return self._json(200, self.state.set_rules(json.loads(body or b"[]")))
            if path == "/_proxy/faults" and method == "DELETE":
                return self._json(200, self.state.set_rules([]))
            if path == "/_proxy/window" and method == "POST":
                return self._json(200, self.state.open_window(
                    (json.loads(body or b"{}") or {}).get("name")))
            if path == "/_proxy/window" and method == "GET":
                return self._json(200, self.state.window_view())
            if path == "/_proxy/window" and method == "DELETE":
                return self._json(200, self.state.close_window())
            if path == "/_proxy/timings" and method == "GET":
                return self._json(200, self.state.timings())
            if path == "/_proxy/events" and method == "GET":
                return self._json(200, self.state.events_view())
            if path == "/_proxy/limits" and method == "GET":
                return self._json(200, self.state.limits_view())
            if path == "/_proxy/limits" and method == "POST":
                return self._json(200, self.state.set_limits(json.loads(body or b"{}")))
            if path == "/_proxy/limits" and method == "DELETE":
                return self._json(200, self.state.set_limits({"limits": []}))
        except (ValueError, RuleError) as exc:
            return self._json(400, {"error": str(exc)})
        return self._json(404, {"error": f"no admin endpoint {method} {path}"})

    # ---- proxying --------------------------------------------------------

    def _handle(self) -> None:
        body = self._body()
        if self.path.startswith("/_proxy/"):
            return self._admin(body)
        state = self.state
        operation = operation_of(self.headers, body, self.path)
        rule = state.on_request(operation, attempt_of(self.headers))
        kind = rule.kind if rule else None

        if kind == "reset":
            self._reset_connection()
            return
        if kind in ("throttle", "too_many_requests", "http500", "http503", "limit_exceeded",
                    "service_not_active", "access_denied"):
            status, headers, data = error_response(kind, operation)
            return self._reply(status, headers.items(), data)

        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        stale_rule = None
        if operation in ("elbv2.ModifyRule", "elbv2.ModifyListener"):
            stale_rule = state.consistency_rule("stale_weights", operation)
        before = None
        arn = router_arn(operation, body) if stale_rule else None
        if arn:
            before = current_actions(state, self.headers, operation, arn)

        started = state.upstream_started()
        try:
            status, resp_headers, data = forward(state, self.command, self.path, headers, body)
        except OSError as exc:
            status, resp_headers = 502, [("Content-Type", "text/plain")]
            data = f"proxy: upstream unreachable: {exc}".encode()
        state.upstream_done(operation, started, status)

        if status == 200:
            data = self._after_success(operation, body, data, stale_rule, arn, before)

        if kind == "slow":
            time.sleep(rule.seconds)
        if kind == "after_commit_500":
            status, headers, data = error_response(kind, operation)
            return self._reply(status, headers.items(), data)
        if kind == "hold_after_commit":
            with state.lock:
                state.held += 1
                release = state.release
            try:
                release.wait(rule.seconds)
            finally:
                with state.lock:
                    state.held -= 1
        try:
            self._reply(status, resp_headers, data)
        except OSError:
            self.close_connection = True  # the caller went away (killed, or timed out)

    def _after_success(self, operation, request, data, stale_rule, arn, before) -> bytes:
        state = self.state
        if operation == "ecs.CreateTaskSet":
            try:
                created = json.loads(data).get("taskSet", {}).get("taskSetArn")
            except ValueError:
                created = None
            if created:
                with state.lock:
                    state.created.setdefault(created, time.monotonic())
        if stale_rule and arn and before is not None:
            with state.lock:
                old = state.stale.get(arn)
                # While a previous change is still invisible, readers keep seeing the oldest value.
                if old is None or time.monotonic() >= old[1]:
                    state.stale[arn] = (before, time.monotonic() + stale_rule.seconds)
        if operation in ("ecs.DescribeTaskSets", "ecs.DescribeServices"):
            hide = state.consistency_rule("hide_new_task_sets", operation)
            if hide:
                data, n = hide_task_sets(operation, request, data, _hidden_arns(state, hide.seconds))
                self._count("hide_new_task_sets", n)
        if operation in ("elbv2.DescribeRules", "elbv2.DescribeListeners"):
            if state.consistency_rule("stale_weights", operation):
                data, n = stale_routers(state, operation, data)
                self._count("stale_weights", n)
        return data

    def _count(self, kind: str, altered: int) -> None:
        """A response shaped by a consistency rule counts as one fault of that kind."""
        if altered:
            with self.state.lock:
                self.state.faults[kind] += 1

    def _reset_connection(self) -> None:
        """Abort the TCP connection (RST) without answering."""
        try:
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    verbose = False

    def handle_error(self, request, client_address) -> None:
        # A killed or timed-out client is the point of this proxy, not an error to print.
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)):
            return
        super().handle_error(request, client_address)


def serve(upstream: str, host: str = "127.0.0.1", port: int = 0, seed: int | None = None,
          verbose: bool = False) -> tuple[Server, ProxyState]:
    state = ProxyState(upstream, seed)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = Server((host, port), handler)
    server.verbose = verbose
    return server, state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=None, help="seed for probability rules")
    parser.add_argument("--verbose", action="store_true", help="one log line per request")
    parser.add_argument("--limits", choices=["aws"], default=None,
                        help="start with AWS-like rate limits (AWS_LIMITS)")
    args = parser.parse_args(argv)

    server, state = serve(args.upstream, args.host, args.port, args.seed, args.verbose)
    if args.limits:
        state.set_limits({"preset": args.limits})
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    print(f"READY {server.server_address[1]}", flush=True)
    while not stop.wait(1.0):
        if not thread.is_alive():
            return 1
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
