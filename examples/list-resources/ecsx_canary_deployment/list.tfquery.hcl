# adopt.tfquery.hcl: `terraform query` lists the services that can become canary deployments;
# `terraform query -generate-config-out=generated.tf` writes import and resource blocks.
list "ecsx_canary_deployment" "prod" {
  provider = ecsx
  config {
    cluster = "prod"
    # Optional: only services whose name starts with this.
    service_name_prefix = "web"
    # Optional: only services that have all these tags.
    tags = { team = "payments" }
  }
}
