# A native ECS canary (deployment_configuration { strategy = "CANARY" } on aws_ecs_service, with
# a PAUSE lifecycle hook at PRE_PRODUCTION_TRAFFIC_SHIFT) waits before its production shift.
# Continue it with
#   terraform apply -invoke=action.ecsx_service_deployment_continue.web
# The action follows the deployment until it waits at the next hook, completes or rolls back.
action "ecsx_service_deployment_continue" "web" {
  config {
    cluster = "prod"
    service = "web"
  }
}
