# The third way of bench/floor.py: N terraform_data resources, Terraform's built-in resource
# (no plugin process at all), one per service name, for reference beside ecsx and the floor.

# A map of the same names as bench/scale (see there why not toset of a list).
variable "services" { type = map(string) }

resource "terraform_data" "svc" {
  for_each = var.services

  input = each.value
}
