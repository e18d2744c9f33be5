//! The `ecsx_primary_task_set` fixture: its HCL block and the address it is written at.

/// The address [`primary_task_set`] writes.
pub const PRIMARY_ADDR: &str = "ecsx_primary_task_set.this";

/// One `ecsx_primary_task_set.this` block; `extra` is more lines inside it.
pub fn primary_task_set(cluster: &str, service: &str, task_set: &str, extra: &str) -> String {
    format!(
        r#"resource "ecsx_primary_task_set" "this" {{
  cluster  = "{cluster}"
  service  = "{service}"
  task_set = "{task_set}"
{extra}
}}"#
    )
}
