# The third way of bench/floor.py: N terraform_data resources, Terraform's built-in resource
# (no plugin process at all), one per service name, for reference beside ecsx and the floor.

variable "services" { type = list(string) }

resource "terraform_data" "svc" {
  for_each = toset(var.services)

  input = each.value
}
