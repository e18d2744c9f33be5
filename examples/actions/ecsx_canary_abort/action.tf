# Roll the canary back now, from any step:
#   terraform apply -invoke=action.ecsx_canary_abort.web
# The version is then held back until canary.task_definition changes or canary.attempt is raised.
action "ecsx_canary_abort" "web" {
  config {
    deployment = ecsx_canary_deployment.web
  }
}
