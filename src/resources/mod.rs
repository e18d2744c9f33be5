//! The implementations: the resources, data sources, actions and listings ecsx serves. The
//! contracts they implement are in `framework`; the provider's registry lists them.

pub mod adopt;
pub mod canary;
pub mod ownership;
pub mod primary_task_set;
pub mod service_deployment;
pub mod support;
pub mod task_sets;
