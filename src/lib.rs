//! ecsx: a Terraform provider (plugin protocol 6) for canary and blue/green releases on Amazon ECS task sets.

pub mod arn;
pub mod aws;
pub mod diag;
pub mod duration;
pub mod framework;
pub mod log;
pub mod metric_data;
pub mod protocol;
pub mod provider;
pub mod resources;
pub mod schema;
pub mod value;
