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

variable "promotion" {
  type    = string
  default = "swap"
}
