//! Every answer the API and the dashboard give, as plain functions of the
//! model (and, for runs no longer in memory, of the log): one read path.
//! HTTP handlers parse, call one of these and serialise; the dashboard's
//! server-side backend calls the very same functions. A new endpoint is a
//! function here and a route.

pub mod alerts;
pub mod approvals;
mod failure;
pub mod jobs;
pub mod range;
pub mod routines;
pub mod runs;
pub mod traces;

pub use failure::{parse_id, Failure};
