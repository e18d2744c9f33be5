# After: the release the local-exec script (bench/baseline/main.tf) ran, declared with ecsx.
# The variables are the script's, so its terraform.tfvars carries over unchanged.
# docs/guides/migrate-from-local-exec.md walks through the switch; tests/e2e_guides.rs applies it.

terraform {
  required_version = ">= 1.7" # removed blocks; on 1.5/1.6 use `terraform state rm` instead
  required_providers {
    ecsx = { source = "ecsx/ecsx", version = "~> 0.1" }
  }
}

provider "ecsx" {}

# 1. Forget the script's resources without running anything: they only ever held
#    provisioners, and the task sets they made are adopted below instead.
removed {
  from = terraform_data.stable
  lifecycle { destroy = false }
}

removed {
  from = terraform_data.canary
  lifecycle { destroy = false }
}

removed {
  from = terraform_data.traffic
  lifecycle { destroy = false }
}

# 2. Adopt what is running: the PRIMARY task set becomes `stable`, the other one (if any)
#    `canary`, with the weights the listeners and rules have now.
import {
  to = ecsx_canary_deployment.web
  id = "${var.cluster}/${var.service}"
}

# 3. The same release, as the script's variables describe it. Keep every argument as the
#    script passed it to create-task-set (platform version, public IP, container), or the
#    first plan shows a change.
resource "ecsx_canary_deployment" "web" {
  cluster = var.cluster
  service = var.service

  task_set {
    launch_type      = "FARGATE"
    platform_version = "LATEST"
    container_name   = "web"
    container_port   = 8080
    network_configuration {
      subnets          = var.subnets
      security_groups  = var.security_groups
      assign_public_ip = false
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
