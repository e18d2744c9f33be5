# A canary release walked through by `make demo`. The same files run against real AWS:
# leave `endpoint` empty, use your usual AWS credentials, and pass the ARNs of your own
# cluster, EXTERNAL-controller service, target groups and listeners (see README.md).

terraform {
  required_providers {
    ecsx = { source = "ecsx/ecsx" }
  }
}

provider "ecsx" {
  region = var.region

  dynamic "endpoints" {
    for_each = var.endpoint == "" ? [] : [var.endpoint]
    content {
      ecs   = endpoints.value
      elbv2 = endpoints.value
    }
  }
}

resource "ecsx_canary_deployment" "web" {
  cluster = var.cluster
  service = var.service

  task_set {
    launch_type      = "FARGATE"
    platform_version = "LATEST"
    container_name   = "web"
    container_port   = 8080
    tags             = { team = "platform" }

    network_configuration {
      subnets         = var.subnets
      security_groups = var.security_groups
    }
  }

  stable {
    task_definition = var.stable_task_definition
  }

  dynamic "canary" {
    for_each = var.canary_task_definition == "" ? [] : [var.canary_task_definition]
    content {
      task_definition = canary.value
      traffic_percent = var.canary_traffic_percent
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

data "ecsx_task_sets" "web" {
  cluster    = var.cluster
  service    = var.service
  depends_on = [ecsx_canary_deployment.web]
}

output "traffic" {
  value = "${ecsx_canary_deployment.web.primary_weight}/${ecsx_canary_deployment.web.canary_weight} (stable ${ecsx_canary_deployment.web.stable_task_set_id}, canary ${coalesce(ecsx_canary_deployment.web.canary_task_set_id, "none")})"
}

output "task_sets" {
  value = [for t in data.ecsx_task_sets.web.task_sets : "${t.id} ${t.status} ${t.task_definition}"]
}
