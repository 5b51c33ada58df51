//! One module per route.

pub mod alerts;
pub mod approvals;
pub mod metrics;
pub mod models;
pub mod not_found;
pub mod overview;
pub mod routines;
pub mod run;
pub mod steps;
pub mod timeline;
pub mod traces;
pub mod workflows;
