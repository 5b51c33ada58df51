use super::decode::Decode;
use serde::{Deserialize, Serialize};

/// `GET /api/session`: who the caller is, as the server authenticated them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Decode)]
pub struct Session {
    /// The identity's name; `anonymous` on an open server.
    pub name: String,
    /// `viewer`, `operator`, `approver` or `admin`.
    pub role: String,
    /// The server asks for no token (no `--auth-tokens`).
    pub open: bool,
}
