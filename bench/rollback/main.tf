# The rollback bench (bench/rollback.py): one deployment whose canary walks `steps` while the
# `analysis` alarm is watched every `check_interval`, and the abort action beside it.

terraform {
  required_providers {
    ecsx = { source = "ecsx/ecsx" }
  }
}

provider "ecsx" {}

variable "cluster" { type = string }
variable "service" { type = string }
variable "subnets" { type = list(string) }
variable "security_groups" { type = list(string) }
variable "stable_task_definition" { type = string }
variable "blue_target_group_arn" { type = string }
variable "green_target_group_arn" { type = string }
variable "listener_arn" { type = string }
variable "rule_arn" { type = string }
variable "test_listener_arn" { type = string }
variable "alarm_name" { type = string }
variable "check_interval" { type = string }
variable "canary_task_definition" {
  type    = string
  default = ""
}
variable "attempt" {
  type    = number
  default = 1
}
variable "steps" {
  type = list(object({
    traffic_percent = number
    pause           = optional(string)
    approval        = optional(bool, false)
  }))
  default = []
}

resource "ecsx_canary_deployment" "web" {
  cluster = var.cluster
  service = var.service

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
    task_definition = var.stable_task_definition
  }

  dynamic "canary" {
    for_each = var.canary_task_definition == "" ? [] : [1]
    content {
      task_definition = var.canary_task_definition
      attempt         = var.attempt

      dynamic "step" {
        for_each = var.steps
        content {
          traffic_percent = step.value.traffic_percent
          pause           = step.value.pause
          approval        = step.value.approval
        }
      }
    }
  }

  analysis {
    alarm_names    = [var.alarm_name]
    check_interval = var.check_interval
  }

  traffic {
    primary_target_group_arn = var.blue_target_group_arn
    canary_target_group_arn  = var.green_target_group_arn
    listener_arns            = [var.listener_arn]
    listener_rule_arns       = [var.rule_arn]
    test_listener_arns       = [var.test_listener_arn]
  }
}

action "ecsx_canary_abort" "web" {
  config {
    deployment = ecsx_canary_deployment.web
  }
}
