# Import by CLUSTER/SERVICE. The PRIMARY task set becomes `stable`; one other task set on
# another target group becomes `canary`. Listeners and rules that split traffic between the
# two target groups are found on the load balancer; list test listeners in the configuration.
terraform import ecsx_canary_deployment.web prod/web
