# The judge bench (bench/judge.py): one deployment whose canary walks `steps` and, with
# `watch = "judge"`, is judged by the built-in judge (`analysis.compare`) every
# `check_interval`; `watch = "alarms"` watches one alarm at the same interval instead, and
# `watch = "none"` has no analysis block, for the same release without a judge.

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
variable "watch" {
  type    = string
  default = "judge"
  validation {
    condition     = contains(["judge", "alarms", "none"], var.watch)
    error_message = "watch is judge, alarms or none."
  }
}
variable "alarm_name" {
  type    = string
  default = ""
}
variable "check_interval" {
  type    = string
  default = "5s"
}
variable "window" {
  type    = string
  default = "1m"
}
variable "delay" {
  type    = string
  default = "0s"
}
variable "canary_task_definition" {
  type    = string
  default = ""
}
variable "attempt" {
  type    = number
  default = 1
}
variable "promote" {
  type    = bool
  default = false
}
variable "steps" {
  type = list(object({
    traffic_percent = number
    pause           = optional(string)
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
      promote         = var.promote

      dynamic "step" {
        for_each = var.steps
        content {
          traffic_percent = step.value.traffic_percent
          pause           = step.value.pause
        }
      }
    }
  }

  dynamic "analysis" {
    for_each = var.watch == "none" ? [] : [var.watch]
    content {
      alarm_names    = analysis.value == "alarms" ? [var.alarm_name] : null
      check_interval = var.check_interval
      window         = var.window
      delay          = var.delay

      dynamic "compare" {
        for_each = analysis.value == "judge" ? [1] : []
        content {
          min_requests = 50
        }
      }
    }
  }

  traffic {
    primary_target_group_arn = var.blue_target_group_arn
    canary_target_group_arn  = var.green_target_group_arn
    listener_arns            = [var.listener_arn]
    listener_rule_arns       = [var.rule_arn]
    test_listener_arns       = [var.test_listener_arn]
  }
}
