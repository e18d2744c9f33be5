# The local-exec script's variables (bench/baseline/variables.tf): the same names and types,
# so its terraform.tfvars loads as it is. The two polling knobs are unused by ecsx.
variable "cluster" { type = string }
variable "service" { type = string }
variable "subnets" { type = list(string) }
variable "security_groups" { type = list(string) }
variable "blue_target_group_arn" { type = string }
variable "green_target_group_arn" { type = string }
variable "listener_arn" { type = string }
variable "rule_arn" { type = string }
variable "test_listener_arn" { type = string }

variable "stable_task_definition" { type = string }

variable "canary_task_definition" {
  description = "Task definition of the canary; empty when no canary runs."
  type        = string
  default     = ""
}

variable "canary_traffic_percent" {
  type    = number
  default = 0
}

variable "poll_seconds" {
  description = "The script's polling interval; unused by ecsx (ECSX_POLL_INTERVAL), kept so the old tfvars still load."
  type        = number
  default     = 5
}

variable "wait_timeout_seconds" {
  description = "The script's wait limit; unused by ecsx (see the resource's timeouts block)."
  type        = number
  default     = 1800
}
