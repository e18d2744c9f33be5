# N deployments, one per service of one cluster (tests/rig/infra.py --count N), for timing
# `terraform plan` as the number of deployments grows. They share the load balancer's
# listener, rule and test listener, so each refresh reads one of each, as a real deployment does.

terraform {
  required_providers {
    ecsx = { source = "ecsx/ecsx" }
  }
}

provider "ecsx" {}

variable "cluster" { type = string }
# A map, not toset(list): Terraform 1.15 evaluates `for_each = toset(var.list)` of 1,000
# strings in time that grows with the square of N (bench/floor_scale.py measures it), which
# would hide the provider's own cost; a map of the same names plans in linear time.
variable "services" { type = map(string) }
variable "subnets" { type = list(string) }
variable "security_groups" { type = list(string) }
variable "task_definition" { type = string }
variable "blue_target_group_arn" { type = string }
variable "green_target_group_arn" { type = string }
variable "listener_arn" { type = string }
variable "rule_arn" { type = string }
variable "test_listener_arn" { type = string }

resource "ecsx_canary_deployment" "svc" {
  for_each = var.services

  cluster = var.cluster
  service = each.value

  task_set {
    launch_type    = "FARGATE"
    container_name = "web"
    container_port = 8080

    network_configuration {
      subnets         = var.subnets
      security_groups = var.security_groups
    }
  }

  stable {
    task_definition = var.task_definition
  }

  traffic {
    primary_target_group_arn = var.blue_target_group_arn
    canary_target_group_arn  = var.green_target_group_arn
    listener_arns            = [var.listener_arn]
    listener_rule_arns       = [var.rule_arn]
    test_listener_arns       = [var.test_listener_arn]
  }
}
