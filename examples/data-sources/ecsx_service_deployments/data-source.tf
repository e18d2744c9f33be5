# Where the native deployments of a service on the ECS deployment controller stand, read at
# every plan.
data "ecsx_service_deployments" "web" {
  cluster = "prod"
  service = "web"
}

# The PAUSE hooks that wait for ecsx_service_deployment_continue or _rollback, with their stage
# and when ECS takes their timeout action.
output "waiting" {
  value = [
    for h in data.ecsx_service_deployments.web.waiting_hooks :
    "${h.hook_id} at ${h.lifecycle_stage} until ${h.expires_at}, then ${h.timeout_action}"
  ]
}

# How much production traffic the newest deployment's target revision gets.
output "target_weight" {
  value = try(data.ecsx_service_deployments.web.deployments[0].target_revision.production_traffic_weight, null)
}
