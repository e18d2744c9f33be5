# Import by CLUSTER/SERVICE (names, not ARNs). The current PRIMARY task set is recorded by ARN.
terraform import ecsx_primary_task_set.web prod/web
