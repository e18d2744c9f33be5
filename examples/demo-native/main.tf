# A native ECS canary (a service on the ECS deployment controller with
# deployment_configuration { strategy = "CANARY" } and a PAUSE lifecycle hook before each
# production traffic shift) seen and continued from Terraform, as `make demo` does at the end.
# The same file runs against real AWS: leave `endpoint` empty and name your own service.

terraform {
  required_providers {
    ecsx = { source = "ecsx/ecsx" }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "endpoint" {
  description = "Endpoint URL of an AWS emulator; empty for real AWS."
  type        = string
  default     = ""
}

variable "cluster" {
  type = string
}

variable "service" {
  description = "A service on the ECS deployment controller (BLUE_GREEN, CANARY or LINEAR)."
  type        = string
}

provider "ecsx" {
  region = var.region

  dynamic "endpoints" {
    for_each = var.endpoint == "" ? [] : [var.endpoint]
    content {
      ecs = endpoints.value
    }
  }
}

data "ecsx_service_deployments" "web" {
  cluster = var.cluster
  service = var.service
}

output "waiting" {
  description = "The PAUSE hooks that wait, with their stage and deadline."
  value = [
    for h in data.ecsx_service_deployments.web.waiting_hooks :
    "${h.hook_id} at ${h.lifecycle_stage} until ${h.expires_at}, then ${h.timeout_action}"
  ]
}

output "newest" {
  description = "Status and production traffic weight of the newest deployment's target revision."
  value = try(
    "${data.ecsx_service_deployments.web.deployments[0].status}, ${data.ecsx_service_deployments.web.deployments[0].target_revision.production_traffic_weight}% on the new revision",
    "no deployment"
  )
}

#   terraform apply -invoke=action.ecsx_service_deployment_continue.web
action "ecsx_service_deployment_continue" "web" {
  config {
    cluster = var.cluster
    service = var.service
  }
}

#   terraform apply -invoke=action.ecsx_service_deployment_rollback.web
action "ecsx_service_deployment_rollback" "web" {
  config {
    cluster = var.cluster
    service = var.service
  }
}
