# adopt.tfquery.hcl: `terraform query` lists the services that can become canary deployments;
# `terraform query -generate-config-out=generated.tf` writes import and resource blocks.
list "ecsx_canary_deployment" "prod" {
  provider = ecsx
  config {
    cluster             = "prod"
    service_name_prefix = "web" # optional
    tags                = { team = "payments" } # optional: services with all these tags
  }
}
