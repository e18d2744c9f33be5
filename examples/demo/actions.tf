# Terraform 1.14 and later: continue a release held at a gate, or abort one, without editing
# the configuration:
#   terraform apply -invoke=action.ecsx_canary_continue.web
#   terraform apply -invoke=action.ecsx_canary_abort.web
# Remove this file to use older Terraform versions or OpenTofu (then approve a gate with
# canary.approved_step, and abort by removing the canary block).

action "ecsx_canary_continue" "web" {
  config {
    deployment = ecsx_canary_deployment.web
  }
}

action "ecsx_canary_abort" "web" {
  config {
    deployment = ecsx_canary_deployment.web
  }
}
