# Roll back a native deployment that waits at a PAUSE lifecycle hook:
#   terraform apply -invoke=action.ecsx_service_deployment_rollback.web
# hook_id (from the ecsx_service_deployments data source) makes sure the action releases the
# pause it was prepared for and no other.
action "ecsx_service_deployment_rollback" "web" {
  config {
    cluster = "prod"
    service = "web"
    hook_id = data.ecsx_service_deployments.web.waiting_hooks[0].hook_id
  }
}

data "ecsx_service_deployments" "web" {
  cluster = "prod"
  service = "web"
}
