use super::decode::Decode;
use serde::{Deserialize, Serialize};

/// `GET /api/session`: who the caller is, as the server authenticated them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Decode)]
pub struct Session {
    /// The identity's name; `anonymous` on an open server.
    pub name: String,
    /// `viewer`, `operator`, `approver` or `admin`.
    pub role: String,
    /// The server asks for no token (no `--auth-tokens`).
    pub open: bool,
}

/// `POST /api/ws/ticket`: a one-use pass for a WebSocket upgrade, for
/// clients (a script in a browser) that cannot send `Authorization` there.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Decode)]
pub struct WsTicket {
    pub ticket: String,
    /// The ticket opens one connection, until this time.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Where to open it: `/api/ws?ticket=…`.
    pub url: String,
}

/// One action someone took, as `GET /api/audit` lists it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Decode)]
pub struct AuditEntry {
    /// The event that recorded it.
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// An identity's name, `anonymous` on an open server, `system` for the
    /// scheduler; `null` for actions older than the audit trail.
    pub actor: Option<String>,
    /// `create_job`, `start_run`, `cancel_run`, `create_routine`,
    /// `update_routine`, `enable_routine`, `disable_routine`,
    /// `delete_routine`, `vote` or `set_alert_rule`.
    pub action: String,
    /// The id (or, for a rule, the name) of what it acted on.
    pub target: String,
    /// A job's or routine's name, a vote's decision.
    pub detail: Option<String>,
}

/// `GET /api/audit`: recent actions, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Decode)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}
