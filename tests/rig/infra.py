#!/usr/bin/env python3
"""Build (and tear down) the AWS infrastructure the ecsx provider manages.

The hashicorp/aws provider cannot be downloaded here, so end-to-end tests make
the surroundings of a canary deployment with boto3 against the emulator and
pass the resulting ARNs to Terraform as variables.

    python tests/rig/infra.py --endpoint http://127.0.0.1:PORT create --name NAME [--count N] [--nlb]
    python tests/rig/infra.py --endpoint http://127.0.0.1:PORT destroy --name NAME

`create` prints one JSON object (see `create()` for the keys); `destroy`
removes everything `create` made for NAME and tolerates parts already gone.
With `--nlb` the load balancer is a Network Load Balancer: TCP listeners and
target groups, and no listener rule (`rule_arn` is empty; NLBs have none).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError

REGION = "us-east-1"
CONTAINER_NAME = "web"
CONTAINER_PORT = 8080
PROD_PORT = 80
TEST_PORT = 9000
# Each revision's container carries its own `memory` (moto 500s on a task
# definition with memory only at task level once a task set has a scale).
REVISION_CONTAINER_MEMORY = (256, 384, 512)


@functools.lru_cache(maxsize=None)
def _clients(endpoint: str) -> dict[str, Any]:
    session = boto3.session.Session(
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name=REGION,
    )
    return {
        name: session.client(name, endpoint_url=endpoint)
        for name in ("ec2", "ecs", "elbv2")
    }


def _service_names(name: str, count: int) -> list[str]:
    if count < 1:
        raise ValueError("count must be >= 1")
    return [name] if count == 1 else [f"{name}-{i}" for i in range(1, count + 1)]


def _lb_name(name: str) -> str:
    return f"{name}-alb"[:32].rstrip("-")


def _pages(call, key: str, **kwargs) -> list:
    """Every item of a Describe* call that may page (Marker / NextMarker)."""
    items, marker = [], None
    while True:
        page = call(**kwargs, **({"Marker": marker} if marker else {}))
        items.extend(page.get(key, []))
        marker = page.get("NextMarker")
        if not marker:
            return items


def _tg_name(name: str, colour: str) -> str:
    suffix = f"-{colour}"
    return name[: 32 - len(suffix)].rstrip("-") + suffix


def _forward(blue_arn: str, green_arn: str, blue: int, green: int) -> list[dict]:
    return [
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": blue_arn, "Weight": blue},
                    {"TargetGroupArn": green_arn, "Weight": green},
                ]
            },
        }
    ]


def _create_network(ec2, name: str) -> dict[str, Any]:
    vpc_id = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}
        ],
    )["Vpc"]["VpcId"]
    # awsvpc task sets need DNS hostnames (moto answers HTTP 500 without them)
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}"
        )["Subnet"]["SubnetId"]
        for i, az in enumerate("ab", start=1)
    ]
    security_group = ec2.create_security_group(
        GroupName=f"{name}-sg", Description=f"ecsx test {name}", VpcId=vpc_id
    )["GroupId"]
    return {"vpc": vpc_id, "subnets": subnets, "security_group": security_group}


def _create_task_definitions(ecs, name: str) -> list[str]:
    arns = []
    for memory in REVISION_CONTAINER_MEMORY:
        arns.append(
            ecs.register_task_definition(
                family=name,
                requiresCompatibilities=["FARGATE"],
                networkMode="awsvpc",
                cpu="256",
                memory="512",
                containerDefinitions=[
                    {
                        "name": CONTAINER_NAME,
                        "image": "public.ecr.aws/nginx/nginx:latest",
                        "memory": memory,
                        "essential": True,
                        "portMappings": [
                            {"containerPort": CONTAINER_PORT, "protocol": "tcp"}
                        ],
                    }
                ],
            )["taskDefinition"]["taskDefinitionArn"]
        )
    return arns


def _create_load_balancing(
    elbv2, name: str, network: dict[str, Any], nlb: bool = False
) -> dict[str, Any]:
    balancer = {"Type": "network"} if nlb else {
        "Type": "application", "SecurityGroups": [network["security_group"]]}
    protocol = "TCP" if nlb else "HTTP"
    lb_arn = elbv2.create_load_balancer(
        Name=_lb_name(name),
        Subnets=network["subnets"],
        Scheme="internet-facing",
        IpAddressType="ipv4",
        **balancer,
    )["LoadBalancers"][0]["LoadBalancerArn"]
    target_groups = {}
    for colour in ("blue", "green"):
        health = {"HealthCheckProtocol": "TCP"} if nlb else {"HealthCheckPath": "/"}
        target_groups[colour] = elbv2.create_target_group(
            Name=_tg_name(name, colour),
            Protocol=protocol,
            Port=CONTAINER_PORT,
            VpcId=network["vpc"],
            TargetType="ip",
            **health,
        )["TargetGroups"][0]["TargetGroupArn"]
    blue, green = target_groups["blue"], target_groups["green"]
    listener_arn = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol=protocol,
        Port=PROD_PORT,
        DefaultActions=_forward(blue, green, 100, 0),
    )["Listeners"][0]["ListenerArn"]
    test_listener_arn = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol=protocol,
        Port=TEST_PORT,
        DefaultActions=_forward(blue, green, 0, 100),
    )["Listeners"][0]["ListenerArn"]
    common = {
        "load_balancer_arn": lb_arn,
        "blue_target_group_arn": blue,
        "green_target_group_arn": green,
        "listener_arn": listener_arn,
        "test_listener_arn": test_listener_arn,
    }
    if nlb:
        return {**common, "rule_arn": ""}  # Network Load Balancers have no rules
    rule_arn = elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=_forward(blue, green, 100, 0),
    )["Rules"][0]["RuleArn"]
    return {
        "load_balancer_arn": lb_arn,
        "blue_target_group_arn": blue,
        "green_target_group_arn": green,
        "listener_arn": listener_arn,
        "test_listener_arn": test_listener_arn,
        "rule_arn": rule_arn,
    }


def create(endpoint: str, name: str, count: int = 1, nlb: bool = False) -> dict[str, Any]:
    """Create the infrastructure for NAME and describe it (a Network Load Balancer with
    `nlb`)."""
    services = _service_names(name, count)
    c = _clients(endpoint)
    network = _create_network(c["ec2"], name)
    cluster_arn = c["ecs"].create_cluster(clusterName=name)["cluster"]["clusterArn"]
    task_definitions = _create_task_definitions(c["ecs"], name)
    load_balancing = _create_load_balancing(c["elbv2"], name, network, nlb)
    service_arns = [
        c["ecs"].create_service(
            cluster=name,
            serviceName=service,
            desiredCount=2,
            deploymentController={"type": "EXTERNAL"},
            schedulingStrategy="REPLICA",
        )["service"]["serviceArn"]
        for service in services
    ]
    return {
        "region": REGION,
        "endpoint": endpoint,
        "cluster": name,
        "cluster_arn": cluster_arn,
        "services": services,
        "service_arns": service_arns,
        "task_definitions": task_definitions,
        "subnets": network["subnets"],
        "security_group": network["security_group"],
        "vpc": network["vpc"],
        **load_balancing,
    }


def _ignore_missing(call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except ClientError as err:
        code = err.response["Error"]["Code"]
        if not (code.endswith("NotFound") or "NotFound" in code or code == "ClientException"):
            raise


def _destroy_ecs(ecs, name: str) -> None:
    clusters = ecs.describe_clusters(clusters=[name])["clusters"]
    if clusters and clusters[0]["status"] == "ACTIVE":
        for arn in ecs.list_services(cluster=name).get("serviceArns", []):
            service = ecs.describe_services(cluster=name, services=[arn])["services"][0]
            if service["status"] == "INACTIVE":
                continue
            for task_set in service.get("taskSets", []):
                _ignore_missing(
                    ecs.delete_task_set, cluster=name, service=arn,
                    taskSet=task_set["taskSetArn"], force=True,
                )
            _ignore_missing(ecs.delete_service, cluster=name, service=arn, force=True)
        _ignore_missing(ecs.delete_cluster, cluster=name)
    for arn in ecs.list_task_definitions(familyPrefix=name)["taskDefinitionArns"]:
        if arn.split("/")[-1].rsplit(":", 1)[0] == name:
            _ignore_missing(ecs.deregister_task_definition, taskDefinition=arn)


def _destroy_load_balancing(elbv2, name: str) -> None:
    try:
        balancers = elbv2.describe_load_balancers(Names=[_lb_name(name)])["LoadBalancers"]
    except ClientError:
        balancers = []
    for balancer in balancers:
        arn = balancer["LoadBalancerArn"]
        for listener in _pages(elbv2.describe_listeners, "Listeners", LoadBalancerArn=arn):
            rules = [] if balancer.get("Type") == "network" else _pages(
                elbv2.describe_rules, "Rules", ListenerArn=listener["ListenerArn"])
            for rule in rules:
                if not rule["IsDefault"]:
                    _ignore_missing(elbv2.delete_rule, RuleArn=rule["RuleArn"])
            _ignore_missing(elbv2.delete_listener, ListenerArn=listener["ListenerArn"])
        elbv2.delete_load_balancer(LoadBalancerArn=arn)
    for colour in ("blue", "green"):
        try:
            groups = elbv2.describe_target_groups(Names=[_tg_name(name, colour)])
        except ClientError:
            continue
        for group in groups["TargetGroups"]:
            _ignore_missing(elbv2.delete_target_group, TargetGroupArn=group["TargetGroupArn"])


def _destroy_network(ec2, name: str) -> None:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    for vpc in vpcs:
        vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        for group in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"]:
            if group["GroupName"] != "default":
                ec2.delete_security_group(GroupId=group["GroupId"])
        for subnet in ec2.describe_subnets(Filters=vpc_filter)["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])


def destroy(endpoint: str, name: str) -> None:
    """Remove everything create() made for NAME; missing parts are fine."""
    c = _clients(endpoint)
    _destroy_ecs(c["ecs"], name)
    _destroy_load_balancing(c["elbv2"], name)
    _destroy_network(c["ec2"], name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ecsx test infrastructure")
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:PORT")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="create and print JSON")
    make.add_argument("--name", required=True)
    make.add_argument("--count", type=int, default=1, help="number of ECS services")
    make.add_argument("--nlb", action="store_true", help="a Network Load Balancer")
    remove = commands.add_parser("destroy", help="remove what create made")
    remove.add_argument("--name", required=True)
    args = parser.parse_args(argv)

    if args.command == "create":
        print(json.dumps(create(args.endpoint, args.name, args.count, args.nlb)), flush=True)
    else:
        destroy(args.endpoint, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
