//! Approvals: steps that wait for people, their quorum and their votes.

use super::decode::Decode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many approvals an approval step needs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Decode)]
#[serde(rename_all = "snake_case")]
pub enum Quorum {
    /// Every approver approves.
    Unanimous,
    /// More than half of the approvers approve.
    Majority,
    /// At least this many approve.
    Count(u32),
}

impl Quorum {
    /// Approvals needed out of `approvers`.
    pub fn needed(self, approvers: usize) -> usize {
        match self {
            Quorum::Unanimous => approvers,
            Quorum::Majority => approvers / 2 + 1,
            Quorum::Count(n) => n as usize,
        }
    }

    /// The decision once `approvals` and `rejections` are in, if there is one:
    /// approved when the quorum is reached, rejected as soon as it no longer can be.
    pub fn decide(
        self,
        approvers: usize,
        approvals: usize,
        rejections: usize,
    ) -> Option<ApprovalStatus> {
        let needed = self.needed(approvers);
        if approvals >= needed {
            Some(ApprovalStatus::Approved)
        } else if approvers.saturating_sub(rejections) < needed {
            Some(ApprovalStatus::Rejected)
        } else {
            None
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// Its step's `timeout_secs` passed first.
    Expired,
    /// Its run was cancelled or interrupted.
    Cancelled,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Rejected,
            Self::Expired,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Decode)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

/// The body of `POST /api/approvals/{id}/vote`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// Who votes. With authentication the voter is the caller's identity:
    /// this may be left out, and if given must name it. On an open server
    /// (no tokens) it is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voter: Option<String>,
    pub decision: Decision,
    #[serde(default)]
    pub comment: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct VoteView {
    pub voter: String,
    pub decision: Decision,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// `GET /api/approvals/{approval_id}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct ApprovalView {
    pub approval_id: String,
    pub run_id: String,
    pub step_id: String,
    pub workflow_id: String,
    pub job_name: String,
    pub approvers: Vec<String>,
    pub quorum: Quorum,
    /// Approvals the quorum needs.
    pub needed: usize,
    pub status: ApprovalStatus,
    pub votes: Vec<VoteView>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Why the run asks when it is not an approval step: its budget is
    /// spent, and `step_id` is the agent step waiting to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct ApprovalList {
    pub approvals: Vec<ApprovalView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_rules_decide_as_soon_as_they_can() {
        use ApprovalStatus::*;
        // Unanimous of 3: any rejection decides.
        assert_eq!(Quorum::Unanimous.decide(3, 2, 0), None);
        assert_eq!(Quorum::Unanimous.decide(3, 3, 0), Some(Approved));
        assert_eq!(Quorum::Unanimous.decide(3, 0, 1), Some(Rejected));
        // Majority of 4 needs 3; two rejections make it impossible.
        assert_eq!(Quorum::Majority.needed(4), 3);
        assert_eq!(Quorum::Majority.decide(4, 2, 1), None);
        assert_eq!(Quorum::Majority.decide(4, 3, 1), Some(Approved));
        assert_eq!(Quorum::Majority.decide(4, 1, 2), Some(Rejected));
        assert_eq!(Quorum::Majority.needed(3), 2);
        // Count 1 of 3: one approval suffices; three rejections end it.
        assert_eq!(Quorum::Count(1).decide(3, 1, 0), Some(Approved));
        assert_eq!(Quorum::Count(1).decide(3, 0, 2), None);
        assert_eq!(Quorum::Count(1).decide(3, 0, 3), Some(Rejected));
    }

    #[test]
    fn quorum_parses_from_json() {
        assert_eq!(
            serde_json::from_str::<Quorum>(r#""majority""#).unwrap(),
            Quorum::Majority
        );
        assert_eq!(
            serde_json::from_str::<Quorum>(r#"{"count": 2}"#).unwrap(),
            Quorum::Count(2)
        );
    }
}
