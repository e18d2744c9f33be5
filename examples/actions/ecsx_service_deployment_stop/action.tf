# Stop a native deployment that runs, whether or not it waits at a hook:
#   terraform apply -invoke=action.ecsx_service_deployment_stop.web
# ROLLBACK (the default) sends production traffic back to the source revision; ABORT stops
# where it is.
action "ecsx_service_deployment_stop" "web" {
  config {
    cluster   = "prod"
    service   = "web"
    stop_type = "ROLLBACK"
    timeout   = "20m"
  }
}
