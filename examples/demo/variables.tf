variable "region" {
  type    = string
  default = "us-east-1"
}

variable "endpoint" {
  description = "Endpoint URL of an AWS emulator; empty for real AWS."
  type        = string
  default     = ""
}

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

variable "canary_steps" {
  description = "Traffic steps of a scheduled release; empty for one step at canary_traffic_percent."
  type = list(object({
    traffic_percent = number
    pause           = optional(string)
    approval        = optional(bool, false)
  }))
  default = []
}

variable "canary_promote" {
  description = "Promote the canary once its last step has baked, in the same apply."
  type        = bool
  default     = false
}

variable "canary_attempt" {
  description = "Raise to start a canary version again after a rollback."
  type        = number
  default     = 1
}

variable "alarm_names" {
  description = "CloudWatch alarms that roll a scheduled release back."
  type        = list(string)
  default     = []
}

variable "check_interval" {
  type    = string
  default = "30s"
}
