"""CloudWatch in the emulator: what moto 5.2.6 serves itself (RPC v2 CBOR, MetricStat points)
and the patches for what it lacks (percentiles, StatusCode, pages). Each patch test fails
without its patch in tests/rig/emulator.py.

Run: .venv/bin/python -m pytest tests/rig/test_cloudwatch.py -q
"""

from __future__ import annotations

import datetime

import cbor2
import pytest

from test_emulator import cbor_call, client, configure, emulator, fresh, http  # noqa: F401

NS = "AWS/ApplicationELB"
DIMENSIONS = [
    {"Name": "TargetGroup", "Value": "targetgroup/web-blue/0123456789abcdef"},
    {"Name": "LoadBalancer", "Value": "app/web/fedcba9876543210"},
]


CLOCK = {"now": datetime.datetime.now(datetime.timezone.utc)}


@pytest.fixture(autouse=True)
def clock():
    """One "now" per test, so a test that crosses a minute boundary still means the same
    minutes."""
    CLOCK["now"] = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)


def minute(back: int) -> datetime.datetime:
    """The start of the minute `back` minutes before the test's current one (UTC)."""
    return CLOCK["now"] - datetime.timedelta(minutes=back)


def put(cw, name: str, at: datetime.datetime, value: float | None = None,
        values: list[float] | None = None, counts: list[float] | None = None):
    datum = {"MetricName": name, "Dimensions": DIMENSIONS, "Timestamp": at + datetime.timedelta(seconds=1)}
    if values is not None:
        datum["Values"] = values
        if counts is not None:
            datum["Counts"] = counts
    else:
        datum["Value"] = value
    cw.put_metric_data(Namespace=NS, MetricData=[datum])


def stat_query(qid: str, name: str, stat: str) -> dict:
    return {"Id": qid, "MetricStat": {
        "Metric": {"Namespace": NS, "MetricName": name, "Dimensions": DIMENSIONS},
        "Period": 60, "Stat": stat}, "ReturnData": True}


def epoch(at: datetime.datetime) -> cbor2.CBORTag:
    """A Smithy RPC v2 CBOR timestamp: tag 1, seconds since the epoch."""
    return cbor2.CBORTag(1, at.timestamp())


def read(endpoint: str, queries: list[dict], start, end, **extra) -> dict:
    """GetMetricData over RPC v2 CBOR, the way the AWS SDK for Rust asks."""
    status, headers, body = cbor_call(endpoint, "GetMetricData", {
        "MetricDataQueries": queries, "StartTime": epoch(start), "EndTime": epoch(end), **extra})
    assert status == 200, body
    assert headers.get("smithy-protocol") == "rpc-v2-cbor"
    return body


def test_metric_points_come_back_over_rpc_v2_cbor(emulator):
    """moto 5.2.6 itself: PutMetricData points (query protocol, boto3) come back from a
    GetMetricData MetricStat query over CBOR, one Sum per minute, newest first."""
    cw = client(emulator, "cloudwatch")
    for back, count in ((5, 100), (4, 120), (3, 90)):
        put(cw, "RequestCount", minute(back), count)
        put(cw, "RequestCount", minute(back), 10)  # two points in one minute add up
    body = read(emulator, [stat_query("r", "RequestCount", "Sum")], minute(6), minute(2))
    [result] = body["MetricDataResults"]
    assert result["Id"] == "r" and result["StatusCode"] == "Complete"
    assert result["Values"] == [100.0, 130.0, 110.0]
    assert [t.replace(tzinfo=datetime.timezone.utc) for t in result["Timestamps"]] == [
        minute(3), minute(4), minute(5)]
    assert "NextToken" not in body


def test_percentiles_of_published_values(emulator):
    """CloudWatch computes pNN over the values published in each period (ALB's
    TargetResponseTime p99); moto alone answers no value."""
    cw = client(emulator, "cloudwatch")
    put(cw, "TargetResponseTime", minute(4), values=[0.1, 2.0, 3.0], counts=[98, 1, 1])
    put(cw, "TargetResponseTime", minute(3), values=[0.2], counts=[10])
    queries = [stat_query("p99", "TargetResponseTime", "p99"),
               stat_query("p50", "TargetResponseTime", "p50"),
               stat_query("avg", "TargetResponseTime", "Average")]
    results = {r["Id"]: r for r in read(emulator, queries, minute(5), minute(2))["MetricDataResults"]}
    assert results["p99"]["Values"] == [0.2, 2.0]
    assert results["p50"]["Values"] == [0.2, 0.1]
    assert results["avg"]["Values"] == pytest.approx([0.2, (9.8 + 5.0) / 100])


def test_status_codes_other_than_complete(emulator):
    """CloudWatch answers PartialData, InternalError or Forbidden per result; moto always
    answers Complete. The switch names metrics; other queries stay Complete."""
    cw = client(emulator, "cloudwatch")
    for name in ("RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime"):
        put(cw, name, minute(3), 5)
    configure(emulator, metric_data_statuses={
        "RequestCount": "PartialData", "HTTPCode_Target_5XX_Count": "InternalError",
        "TargetResponseTime": "Forbidden"})
    queries = [stat_query("r", "RequestCount", "Sum"),
               stat_query("e", "HTTPCode_Target_5XX_Count", "Sum"),
               stat_query("t", "TargetResponseTime", "Average"),
               stat_query("u", "UnHealthyHostCount", "Maximum")]
    results = {r["Id"]: r for r in read(emulator, queries, minute(4), minute(2))["MetricDataResults"]}
    assert {k: (r["StatusCode"], r.get("Values", [])) for k, r in results.items()} == {
        "r": ("PartialData", [5.0]), "e": ("InternalError", []), "t": ("Forbidden", []),
        "u": ("Complete", [])}
    status, _ = http(emulator, "POST", "/_rig/config", {"metric_data_statuses": {"RequestCount": "Broken"}})
    assert status == 400


def test_pages_follow_next_token(emulator):
    """CloudWatch pages GetMetricData at MaxDatapoints points: a result cut short says
    PartialData and NextToken brings the rest (once); moto answers everything at once."""
    cw = client(emulator, "cloudwatch")
    for back in range(3, 8):
        put(cw, "RequestCount", minute(back), 100 + back)
        put(cw, "HTTPCode_Target_5XX_Count", minute(back), back)
    queries = [stat_query("r", "RequestCount", "Sum"),
               stat_query("e", "HTTPCode_Target_5XX_Count", "Sum")]
    seen: dict[str, list[float]] = {"r": [], "e": []}
    pages, token = [], None
    while True:
        extra = {"MaxDatapoints": 3} | ({"NextToken": token} if token else {})
        body = read(emulator, queries, minute(8), minute(2), **extra)
        pages.append([(r["Id"], r["StatusCode"], len(r.get("Values", [])))
                      for r in body["MetricDataResults"]])
        for r in body["MetricDataResults"]:
            seen[r["Id"]] += r.get("Values", [])
        token = body.get("NextToken")
        if not token:
            break
    assert pages == [[("r", "PartialData", 3)], [("r", "Complete", 2), ("e", "PartialData", 1)],
                     [("e", "PartialData", 3)], [("e", "Complete", 1)]]
    assert seen == {"r": [103.0, 104.0, 105.0, 106.0, 107.0], "e": [3.0, 4.0, 5.0, 6.0, 7.0]}
    # the switch pages without MaxDatapoints; a spent token is refused
    configure(emulator, metric_data_page_points=4)
    body = read(emulator, queries, minute(8), minute(2))
    assert [(r["Id"], r["StatusCode"]) for r in body["MetricDataResults"]] == [("r", "PartialData")]
    spent = body["NextToken"]
    read(emulator, queries, minute(8), minute(2), NextToken=spent)
    status, _, error = cbor_call(emulator, "GetMetricData", {
        "MetricDataQueries": queries, "StartTime": epoch(minute(8)), "EndTime": epoch(minute(2)),
        "NextToken": spent})
    assert status == 400 and "NextToken" in error.get("message", ""), error


def test_dimensions_match_in_any_order(emulator):
    """CloudWatch matches a query's dimensions to a metric's as a set; moto sorts both lists
    with an ordering that compares a value with a name, so the other order found nothing."""
    cw = client(emulator, "cloudwatch")
    put(cw, "HTTPCode_Target_5XX_Count", minute(3), 4)
    for dimensions in (DIMENSIONS, list(reversed(DIMENSIONS))):
        query = stat_query("e", "HTTPCode_Target_5XX_Count", "Sum")
        query["MetricStat"]["Metric"]["Dimensions"] = dimensions
        [result] = read(emulator, [query], minute(4), minute(2))["MetricDataResults"]
        assert result.get("Values") == [4.0], dimensions
