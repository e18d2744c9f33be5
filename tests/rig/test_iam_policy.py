"""The IAM policies of docs/guides/iam.md cover every operation the provider calls.

The operations come from two witnesses: what the fault proxy recorded while the e2e suites
that route the provider through it (e2e_faults, e2e_load, e2e_crash) ran, in
target/rig-calls/ (or, before any such run on this machine, the committed snapshot
tests/rig/recorded-operations.txt), and the SDK calls written in src/.

Run: .venv/bin/python -m pytest -q tests/rig/test_iam_policy.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
POLICY = ROOT / "docs/guides/iam-policy.json"
GUIDE = ROOT / "docs/guides/iam.md"
RECORDS = ROOT / "target/rig-calls"
SNAPSHOT = ROOT / "tests/rig/recorded-operations.txt"
# proxy service prefixes -> IAM service prefixes
IAM_SERVICE = {"ecs": "ecs", "elbv2": "elasticloadbalancing", "sts": "sts",
               "cloudwatch": "cloudwatch"}
READ_PREFIXES = ("Describe", "List", "Get")


def actions(policy: dict) -> set[str]:
    found = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        found.update([listed] if isinstance(listed, str) else listed)
    return found


def iam_action(operation: str) -> str:
    service, _, action = operation.partition(".")
    return f"{IAM_SERVICE[service]}:{action}"


def recorded_operations() -> tuple[set[str], str]:
    files = sorted(RECORDS.glob("proxy-*.txt")) if RECORDS.is_dir() else []
    lines = [line for f in files for line in f.read_text().split()]
    if lines:
        return set(lines), f"{len(files)} proxy records in {RECORDS}"
    return set(SNAPSHOT.read_text().split()), str(SNAPSHOT)


def source_operations() -> set[str]:
    """`client.describe_task_sets()` style calls in src/aws/ (the only place the provider
    calls the SDK), as <service>.<Action>."""
    ops = set()
    for path in (ROOT / "src/aws").rglob("*.rs"):
        text = path.read_text()
        for match in re.finditer(
            r"\.((?:describe|create|update|delete|tag|untag|modify|list|continue|stop)_[a-z_]+)\(\)",
            text,
        ):
            name = match.group(1)
            action = "".join(part.capitalize() for part in name.split("_"))
            head = text[: match.start()]
            # the client a call is made on: the last `ecs`/`elbv2`/`cloudwatch` named before it
            client = max(("ecs", "elbv2", "cloudwatch"), key=lambda c: head.rfind(c))
            ops.add(f"{client}.{action}")
    return ops


def test_guide_shows_exactly_the_policy_file():
    doc = json.loads(POLICY.read_text())
    blocks = re.findall(r"```json\n(.*?)\n```", GUIDE.read_text(), flags=re.S)
    assert [json.loads(b) for b in blocks] == [doc["plan"], doc["apply"]]


def test_plan_policy_only_reads():
    plan = actions(json.loads(POLICY.read_text())["plan"])
    writes = sorted(a for a in plan if not a.split(":")[1].startswith(READ_PREFIXES))
    assert writes == [], f"the plan policy grants writes: {writes}"


def test_policies_cover_every_recorded_operation():
    doc = json.loads(POLICY.read_text())
    plan, apply = actions(doc["plan"]), actions(doc["apply"])
    seen, where = recorded_operations()
    seen = {op for op in seen if op.split(".")[0] in IAM_SERVICE and not op.startswith("sts.")}
    assert seen, f"no operations recorded in {where}"
    missing = sorted(iam_action(op) for op in seen if iam_action(op) not in apply)
    assert missing == [], f"apply policy misses {missing} (seen in {where})"
    reads = {iam_action(op) for op in seen if op.split(".")[1].startswith(READ_PREFIXES)}
    assert sorted(reads - plan) == [], f"plan policy misses reads seen in {where}"


def test_policies_cover_every_call_in_the_source():
    doc = json.loads(POLICY.read_text())
    apply = actions(doc["apply"])
    calls = source_operations()
    assert "ecs.CreateTaskSet" in calls and "elbv2.ModifyRule" in calls, calls
    missing = sorted(iam_action(op) for op in calls if iam_action(op) not in apply)
    assert missing == [], f"apply policy misses {missing} called in src/"
