//! Pieces shared by several pages.

pub mod access;
pub mod alert_banner;
pub mod charts;
pub mod empty;
pub mod filters;
pub mod heatmap;
pub mod layout;
pub mod live_badge;
pub mod stat;
pub mod status;
pub mod toggle;
pub mod trace_view;
