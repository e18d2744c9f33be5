terraform {
  required_providers {
    ecsx = {
      source  = "ecsx/ecsx"
      version = "~> 0.1"
    }
  }
}

# Credentials come from the standard AWS chain: environment, shared profiles,
# SSO, web identity, container and instance roles.
provider "ecsx" {
  region = "eu-west-1"

  # Optional: deploy through a role.
  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/deployer"
    session_name = "terraform-ecsx"
  }
}
