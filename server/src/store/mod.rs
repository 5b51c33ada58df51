//! The durable event log.
//!
//! Events go to a writer thread through a channel, and the writer appends
//! them in batches, one transaction per batch (group commit), so durability
//! costs one commit per burst rather than per event. The engine's own
//! events never wait for the disk; a request that changes state waits for
//! its event's commit before it is answered.
//! The store sits behind [`EventLog`] so that another database (PostgreSQL)
//! can replace SQLite without touching the engine.

pub mod backup;
mod checkpoint;
pub mod format;
pub mod index;
mod memory;
mod postgres;
mod sqlite;
mod writer;

use std::fmt;

pub use index::{ApprovalRecord, IndexRow, JobRecord, RunFilter, RunQuery, RunRecord};
pub use memory::MemoryLog;
pub use postgres::{PostgresLog, FENCED};
pub use sqlite::SqliteLog;
pub use writer::{LogProbe, LogState, LogWriter, WriterStats};

use ulid::Ulid;

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

/// An append-only log of events, in `seq` order, with the read index
/// derived from them ([`index`]).
pub trait EventLog: Send + 'static {
    /// What health calls it: `sqlite`, `postgres`.
    fn kind(&self) -> &'static str;

    /// Appends the batch, atomically: all of it or none, and answers the
    /// `seq` the log gave its first event. A log of one server stores the
    /// `seq`s its events carry; a log several servers share gives them in
    /// commit order, one after another from that first.
    fn append(&mut self, events: &[&Event]) -> Result<u64, StoreError>;

    /// Upkeep between two commits, once the last one's acknowledgements
    /// are out (SQLite: finishing a WAL checkpoint now and then).
    fn between_commits(&mut self) {}

    /// How often a writer with nothing to write checks that the store is
    /// still there (a database across a network: so that health says so
    /// before a change finds out); `None`, never (a file fails only when
    /// written).
    fn idle_check(&self) -> Option<std::time::Duration> {
        None
    }

    /// The check itself: a round trip that changes nothing.
    fn ping(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Calls `f` on every event in `seq` order; returns how many there were.
    fn replay(&mut self, f: &mut dyn FnMut(Event)) -> Result<u64, StoreError>;

    /// [`replay`](Self::replay), telling of each event whether this server
    /// wrote it (true of every event in a log only one server writes): what
    /// a server counts as its own work, beside what it learns of others'.
    fn replay_marked(&mut self, f: &mut dyn FnMut(Event, bool)) -> Result<u64, StoreError> {
        self.replay(&mut |e| f(e, true))
    }

    /// The events of one run, in order.
    fn run_events(&mut self, run_id: &str) -> Result<Vec<Event>, StoreError>;

    /// One event, by `seq`.
    fn event(&mut self, seq: u64) -> Result<Option<Event>, StoreError>;

    /// The `seq` through which the index is complete: the events after it
    /// may have rows not written yet (the writer batches them; an older
    /// release wrote none), which a replay makes again.
    fn indexed_through(&mut self) -> Result<u64, StoreError>;

    /// Writes index rows, with every row of this server's events up to
    /// `through` among them or already written.
    fn write_index(&mut self, rows: &[&IndexRow], through: u64) -> Result<(), StoreError>;

    /// Records that the index holds the rows of every event up to `through`,
    /// whoever wrote them: after a replay has written what was missing.
    fn index_complete(&mut self, through: u64) -> Result<(), StoreError> {
        self.write_index(&[], through)
    }

    /// Indexed runs, newest first.
    fn runs(&mut self, q: &RunQuery) -> Result<Vec<RunRecord>, StoreError>;

    /// How many indexed runs `q` admits (its limit aside).
    fn count_runs(&mut self, q: &RunQuery) -> Result<u64, StoreError>;

    fn job(&mut self, job_id: Ulid) -> Result<Option<JobRecord>, StoreError>;

    /// For each of `jobs` with indexed runs below `below` (except those in
    /// `except`): how many, and the newest.
    fn job_runs(
        &mut self,
        jobs: &[Ulid],
        below: Ulid,
        except: &[Ulid],
    ) -> Result<Vec<(Ulid, u64, Ulid)>, StoreError>;

    /// The run whose events hold an approval.
    fn approval_run(&mut self, approval_id: Ulid) -> Result<Option<Ulid>, StoreError>;

    /// Indexed jobs of one workflow or all, with ids below `below`, newest
    /// first, at most `limit`.
    fn jobs(
        &mut self,
        workflow_id: Option<&str>,
        below: Ulid,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError>;
}
