data "ecsx_task_sets" "web" {
  cluster = "prod"
  service = "web"
}

output "primary" {
  value = data.ecsx_task_sets.web.primary_task_set_id
}

output "steady" {
  value = [for t in data.ecsx_task_sets.web.task_sets : t.id if t.stability_status == "STEADY_STATE"]
}
