//! Pieces shared by several pages.

pub mod empty;
pub mod layout;
pub mod live_badge;
pub mod stat;
