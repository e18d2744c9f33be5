# A PipeCD ECS canary pipeline (app.pipecd.yaml) as one ecsx_canary_deployment, one variable
# per pipeline knob. Each PipeCD stage becomes a change of these variables in a commit, and
# `terraform apply` runs it. docs/guides/migrate-from-pipecd.md maps the stages side by side;
# tests/e2e_guides.rs imports a service PipeCD left behind and walks the stages.

terraform {
  required_providers {
    ecsx = { source = "ecsx/ecsx", version = "~> 0.1" }
  }
}

provider "ecsx" {}

# PipeCD leaves the service with one PRIMARY task set on the primary target group; import it
# once, and the first plan changes nothing.
import {
  to = ecsx_canary_deployment.web
  id = "${var.cluster}/${var.service}"
}

resource "ecsx_canary_deployment" "web" {
  cluster = var.cluster
  service = var.service

  # PipeCD keeps the new PRIMARY on the primary target group (fixed roles); "replace" does the
  # same. Leave it out for the default "swap": the canary itself becomes PRIMARY on its target
  # group, with no third task set (docs/guides/migrate-from-pipecd.md).
  promotion = "replace"

  # spec.input.targetGroups.*.containerName/containerPort and the service definition's
  # launchType, platformVersion and awsvpcConfiguration.
  task_set {
    launch_type      = "FARGATE"
    platform_version = "LATEST"
    container_name   = "web"
    container_port   = 8080
    network_configuration {
      subnets         = var.subnets
      security_groups = var.security_groups
    }
  }

  # PRIMARY variant: ECS_PRIMARY_ROLLOUT is setting this to the canary's task definition
  # (and removing the canary).
  stable {
    task_definition = var.primary_task_definition
  }

  # CANARY variant: ECS_CANARY_ROLLOUT is adding it (with.scale -> scale_percent),
  # ECS_TRAFFIC_ROUTING with.canary is traffic_percent, ECS_CANARY_CLEAN is removing it.
  dynamic "canary" {
    for_each = var.canary_task_definition == "" ? [] : [var.canary_task_definition]
    content {
      task_definition = canary.value
      scale_percent   = var.canary_scale
      traffic_percent = var.canary_traffic
    }
  }

  # spec.input.targetGroups.primary / .canary, and the listener rules PipeCD's
  # ECS_TRAFFIC_ROUTING rewrites (every rule of the listener forwarding to the two groups).
  traffic {
    primary_target_group_arn = var.primary_target_group_arn
    canary_target_group_arn  = var.canary_target_group_arn
    listener_arns            = var.listener_arns
    listener_rule_arns       = var.listener_rule_arns
  }
}

variable "cluster" { type = string }
variable "service" { type = string }
variable "subnets" { type = list(string) }
variable "security_groups" { type = list(string) }
variable "primary_target_group_arn" { type = string }
variable "canary_target_group_arn" { type = string }

variable "listener_arns" {
  type    = list(string)
  default = []
}

variable "listener_rule_arns" {
  type    = list(string)
  default = []
}

variable "primary_task_definition" {
  description = "Task definition of the PRIMARY variant."
  type        = string
}

variable "canary_task_definition" {
  description = "Task definition of the CANARY variant; empty when no canary runs."
  type        = string
  default     = ""
}

variable "canary_scale" {
  description = "ECS_CANARY_ROLLOUT with.scale: the canary's share of the service's desired count, in percent."
  type        = number
  default     = 100
}

variable "canary_traffic" {
  description = "ECS_TRAFFIC_ROUTING with.canary: the canary's share of traffic, in percent."
  type        = number
  default     = 0
}

output "traffic" {
  value = "primary ${ecsx_canary_deployment.web.primary_weight} / canary ${ecsx_canary_deployment.web.canary_weight}"
}
