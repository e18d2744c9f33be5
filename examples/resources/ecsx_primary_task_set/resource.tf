# Task sets created elsewhere (e.g. hashicorp/aws's aws_ecs_task_set); ecsx makes
# one of them PRIMARY and keeps it so.
resource "ecsx_primary_task_set" "web" {
  cluster  = "prod"
  service  = "web"
  task_set = aws_ecs_task_set.green.arn

  wait_for_steady_state = true

  timeouts {
    update = "15m"
  }
}
