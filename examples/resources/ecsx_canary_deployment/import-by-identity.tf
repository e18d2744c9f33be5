import {
  to = ecsx_canary_deployment.web
  identity = {
    cluster = "prod"
    service = "web"
    # account_id and region are optional; they default to the provider's.
  }
}
