# adopt.tfquery.hcl: `terraform query` lists the services whose PRIMARY task set can be
# adopted; `terraform query -generate-config-out=generated.tf` writes import and resource blocks.
list "ecsx_primary_task_set" "prod" {
  provider = ecsx
  config {
    cluster             = "prod"
    service_name_prefix = "web" # optional
    tags                = { team = "payments" } # optional: services with all these tags
  }
}
