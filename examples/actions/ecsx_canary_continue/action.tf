# A release held at a gate (step { approval = true }) continues with
#   terraform apply -invoke=action.ecsx_canary_continue.web
# The action walks on as an apply would: each step's weight and bake, alarms watched, up to the
# next gate or the end (and the promotion, with canary.promote).
action "ecsx_canary_continue" "web" {
  config {
    deployment = ecsx_canary_deployment.web
  }
}
