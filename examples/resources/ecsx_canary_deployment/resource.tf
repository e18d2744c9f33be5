resource "ecsx_canary_deployment" "web" {
  cluster = "prod"
  service = "web" # deployment_controller { type = "EXTERNAL" }

  task_set {
    launch_type      = "FARGATE"
    platform_version = "LATEST"
    container_name   = "web"
    container_port   = 8080
    tags             = { team = "payments" }

    network_configuration {
      subnets         = ["subnet-0123", "subnet-4567"]
      security_groups = ["sg-0123"]
    }
  }

  # What serves production: PRIMARY, on the primary target group.
  stable {
    task_definition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:12"
  }

  # Present while a canary runs. Remove it to roll back; to promote, set
  # stable.task_definition to the canary's and remove this block.
  canary {
    task_definition = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:13"
    traffic_percent = 10
  }

  traffic {
    primary_target_group_arn = aws_lb_target_group.blue.arn
    canary_target_group_arn  = aws_lb_target_group.green.arn
    listener_rule_arns       = [aws_lb_listener_rule.api.arn]
    test_listener_arns       = [aws_lb_listener.test.arn]
  }

  timeouts {
    create = "30m"
    update = "30m"
    delete = "20m"
  }
}
