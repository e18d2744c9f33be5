//! What the provider serves: every resource, data source and action, in one place.

use crate::framework::{Action, DataSource, Resource};
use crate::resources::{canary, primary_task_set, service_deployment, task_sets};
use std::sync::Arc;

/// All resources the provider serves.
pub fn resources() -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(primary_task_set::PrimaryTaskSet),
        Arc::new(canary::CanaryDeployment),
    ]
}

/// All data sources the provider serves.
pub fn data_sources() -> Vec<Arc<dyn DataSource>> {
    vec![
        Arc::new(task_sets::TaskSets),
        Arc::new(service_deployment::ServiceDeployments),
    ]
}

/// All actions the provider serves.
pub fn actions() -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(canary::Continue),
        Arc::new(canary::Abort),
        Arc::new(service_deployment::ContinueDeployment),
        Arc::new(service_deployment::RollbackDeployment),
        Arc::new(service_deployment::StopDeployment),
    ]
}
