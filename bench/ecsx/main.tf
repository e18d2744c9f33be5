# The same canary release as bench/baseline, declared with ecsx_canary_deployment
# (examples/demo without the data source and the tags, so both sides do the same work).
# The provider reads its endpoint, region and credentials from the environment
# (AWS_ENDPOINT_URL, AWS_REGION, ...); ECSX_POLL_INTERVAL sets how often waits poll.

terraform {
  required_providers {
    ecsx = { source = "ecsx/ecsx" }
  }
}

provider "ecsx" {}

resource "ecsx_canary_deployment" "web" {
  cluster   = var.cluster
  service   = var.service
  promotion = var.promotion

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

output "traffic" {
  value = "${ecsx_canary_deployment.web.primary_weight}/${ecsx_canary_deployment.web.canary_weight}"
}
