//! The durable event log.
//!
//! Events go to a writer thread through a channel, and the writer appends
//! them in batches, one transaction per batch (group commit), so durability
//! costs one commit per burst rather than per event. The engine's own
//! events never wait for the disk; a request that changes state waits for
//! its event's commit before it is answered.
//! The store sits behind [`EventLog`] so that another database (PostgreSQL)
//! can replace SQLite without touching the engine.

pub mod format;
mod memory;
mod sqlite;
mod writer;

use std::fmt;

pub use memory::MemoryLog;
pub use sqlite::SqliteLog;
pub use writer::{LogProbe, LogState, LogWriter, WriterStats};

use crate::events::Event;

/// What a commit survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// A process crash (`kill -9`): the OS has the data once committed.
    #[default]
    Normal,
    /// A power cut too: every commit waits for the disk (fsync).
    Full,
}

#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event log: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// An append-only log of events, in `seq` order.
pub trait EventLog: Send + 'static {
    /// Appends the batch atomically: all of it or none.
    fn append(&mut self, events: &[&Event]) -> Result<(), StoreError>;

    /// Calls `f` on every event in `seq` order; returns how many there were.
    fn replay(&mut self, f: &mut dyn FnMut(Event)) -> Result<u64, StoreError>;

    /// The events of one run, in order.
    fn run_events(&mut self, run_id: &str) -> Result<Vec<Event>, StoreError>;
}
