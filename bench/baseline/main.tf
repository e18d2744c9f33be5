# The script baseline: the same canary release as bench/ecsx, done the way teams do it today
# without ecsx (see the seed articles): terraform_data + local-exec running the AWS CLI.
# create-task-set, a shell loop polling describe-task-sets until STEADY_STATE (there is no
# `aws ecs wait` for task sets), update-service-primary-task-set, modify-rule /
# modify-listener for the weights, delete-task-set for what nothing routes to any more.
#
# The AWS CLI reads its endpoint, region and credentials from the environment
# (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
#
# What this version cannot do, unlike ecsx: see drift (a plan reads nothing from AWS),
# preview the traffic change, undo a half-done step, or clean up on destroy.

locals {
  has_canary    = var.canary_task_definition != ""
  canary_weight = local.has_canary ? var.canary_traffic_percent : 0
  network       = "awsvpcConfiguration={subnets=[${join(",", var.subnets)}],securityGroups=[${join(",", var.security_groups)}],assignPublicIp=DISABLED}"
  ecs_args      = "--cluster ${var.cluster} --service ${var.service}"

  # Shell helpers shared by the steps.
  helpers = <<-EOT
    set -euo pipefail
    wait_steady() {   # the `aws ecs wait` that does not exist for task sets
      local arn=$1 deadline=$((SECONDS + ${var.wait_timeout_seconds})) status
      while :; do
        status=$(aws ecs describe-task-sets ${local.ecs_args} --task-sets "$arn" \
          --query 'taskSets[0].stabilityStatus' --output text)
        [ "$status" = STEADY_STATE ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && { echo "task set $arn not steady: $status" >&2; return 1; }
        sleep ${var.poll_seconds}
      done
    }
    forward() {       # forward action JSON: forward BLUE_WEIGHT GREEN_WEIGHT
      printf '[{"Type":"forward","ForwardConfig":{"TargetGroups":[{"TargetGroupArn":"%s","Weight":%d},{"TargetGroupArn":"%s","Weight":%d}]}}]' \
        "${var.blue_target_group_arn}" "$1" "${var.green_target_group_arn}" "$2"
    }
  EOT
}

# The stable version: a task set on the blue target group, steady, then PRIMARY.
resource "terraform_data" "stable" {
  triggers_replace = [var.stable_task_definition]

  provisioner "local-exec" {
    interpreter = ["bash", "-c"]
    command     = <<-EOT
      ${local.helpers}
      arn=$(aws ecs create-task-set ${local.ecs_args} \
        --external-id "stable-${self.id}" \
        --task-definition "${var.stable_task_definition}" \
        --launch-type FARGATE --platform-version LATEST \
        --scale unit=PERCENT,value=100 \
        --network-configuration "${local.network}" \
        --load-balancers "targetGroupArn=${var.blue_target_group_arn},containerName=web,containerPort=8080" \
        --query taskSet.taskSetArn --output text)
      wait_steady "$arn"
      aws ecs update-service-primary-task-set ${local.ecs_args} --primary-task-set "$arn" > /dev/null
    EOT
  }
}

# The canary: a task set on the green target group, steady before any traffic moves.
resource "terraform_data" "canary" {
  count            = local.has_canary ? 1 : 0
  triggers_replace = [var.canary_task_definition]
  depends_on       = [terraform_data.stable]

  provisioner "local-exec" {
    interpreter = ["bash", "-c"]
    command     = <<-EOT
      ${local.helpers}
      arn=$(aws ecs create-task-set ${local.ecs_args} \
        --external-id "canary-${self.id}" \
        --task-definition "${var.canary_task_definition}" \
        --launch-type FARGATE --platform-version LATEST \
        --scale unit=PERCENT,value=100 \
        --network-configuration "${local.network}" \
        --load-balancers "targetGroupArn=${var.green_target_group_arn},containerName=web,containerPort=8080" \
        --query taskSet.taskSetArn --output text)
      wait_steady "$arn"
    EOT
  }
}

# Traffic, once the task sets above are steady; then delete every task set that is neither
# the current stable nor the current canary (the old stable after a promote, the canary
# after a promote or a rollback).
resource "terraform_data" "traffic" {
  triggers_replace = {
    weights = "${100 - local.canary_weight}/${local.canary_weight}"
    stable  = terraform_data.stable.id
    canary  = try(terraform_data.canary[0].id, "")
  }

  provisioner "local-exec" {
    interpreter = ["bash", "-c"]
    command     = <<-EOT
      ${local.helpers}
      aws elbv2 modify-listener --listener-arn "${var.listener_arn}" \
        --default-actions "$(forward ${100 - local.canary_weight} ${local.canary_weight})" > /dev/null
      aws elbv2 modify-rule --rule-arn "${var.rule_arn}" \
        --actions "$(forward ${100 - local.canary_weight} ${local.canary_weight})" > /dev/null
      aws elbv2 modify-listener --listener-arn "${var.test_listener_arn}" \
        --default-actions "$(forward ${local.has_canary ? "0 100" : "100 0"})" > /dev/null
      old=$(aws ecs describe-task-sets ${local.ecs_args} --output text --query \
        "taskSets[?status!='DRAINING' && externalId!='stable-${terraform_data.stable.id}' && externalId!='canary-${try(terraform_data.canary[0].id, "none")}'].taskSetArn")
      for arn in $old; do
        aws ecs delete-task-set ${local.ecs_args} --task-set "$arn" > /dev/null
      done
    EOT
  }
}

output "traffic" {
  value = "${100 - local.canary_weight}/${local.canary_weight}"
}
