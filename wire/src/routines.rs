//! Routines: workflows started on a cron schedule.

use super::decode::Decode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RunStatus, WorkflowSpec};

/// The body of `POST /api/routines` and `PUT /api/routines/{id}`: what to
/// run (a stored job, or a workflow from which a job is made) and when.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct RoutineRequest {
    pub name: String,
    /// Cron expression, 5 fields (minute precision) or 6 (with seconds first).
    pub cron: String,
    /// IANA time zone the expression is read in; UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub workflow: Option<WorkflowSpec>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The body of `PATCH /api/routines/{id}`: any subset of the fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct RoutinePatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// One fire of a routine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct RoutineFire {
    pub run_id: String,
    pub fired_at: DateTime<Utc>,
    /// The time the schedule asked for.
    pub scheduled_for: DateTime<Utc>,
    /// Fired at start-up for a time missed while the server was down.
    pub missed: bool,
    pub status: Option<RunStatus>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct RoutineView {
    pub routine_id: String,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub job_id: String,
    pub workflow_id: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// Who created it: an identity's name, `anonymous` on an open server;
    /// `null` for routines older than the audit trail.
    pub created_by: Option<String>,
    /// The last change (an edit, enabling or disabling it), and who made it.
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
    /// The next five fire times (none while disabled).
    pub next_fires: Vec<DateTime<Utc>>,
    /// The latest fires, newest first.
    pub history: Vec<RoutineFire>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct RoutineList {
    pub routines: Vec<RoutineView>,
}
