# Import by CLUSTER/SERVICE. The PRIMARY task set becomes `stable`; one other task set on
# another target group becomes `canary`. Listeners and rules that split traffic between the
# two target groups are found on the load balancer; list test listeners in the configuration.
# Listeners and rules that forward plainly to the PRIMARY's target group alone are adopted
# with the one free target group of the same kind (no load balancer, no targets) as the
# canary's; none or several leave traffic.canary_target_group_arn to the configuration.
# Import only reads: the first apply tags the adopted task sets (`ecsx:deployment`,
# `ecsx:role`), which its plan shows as "tag stable ..." steps. Task sets another controller
# manages (another ecsx deployment, or PipeCD's `pipecd-dev-managed-by` tag) are refused.
# A service still on the ECS or CODE_DEPLOY controller is imported for an arrival: its running
# tasks as `stable`, nothing owned yet; with an `arrival` block, the first apply switches it.
terraform import ecsx_canary_deployment.web prod/web
