# Import by CLUSTER/SERVICE. The PRIMARY task set becomes `stable`; one other task set on
# another target group becomes `canary`. Listeners and rules that split traffic between the
# two target groups are found on the load balancer; list test listeners in the configuration.
# Import only reads: the first apply tags the adopted task sets (`ecsx:deployment`,
# `ecsx:role`), which its plan shows as "tag stable ..." steps. Task sets another controller
# manages (another ecsx deployment, or PipeCD's `pipecd-dev-managed-by` tag) are refused.
terraform import ecsx_canary_deployment.web prod/web
