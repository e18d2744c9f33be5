import {
  to = ecsx_primary_task_set.web
  identity = {
    cluster = "prod"
    service = "web"
    # account_id and region are optional; they default to the provider's.
  }
}
