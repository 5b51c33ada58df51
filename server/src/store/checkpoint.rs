//! Checkpoints of the SQLite WAL, off the path of acknowledgements.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: that commit syncs the WAL, copies its pages into the database
//! and syncs that too, while every acknowledgement queued behind it waits
//! (3–5 ms per checkpoint here, about 20 a second under load: the p99 of an
//! acknowledgement). So the writer's connection checkpoints nothing by
//! itself; a thread of its own, on a second connection, copies the pages
//! (a `PASSIVE` checkpoint, which never blocks the writer) beside it.
//!
//! The WAL starts over from its beginning only when a write begins with
//! every frame copied, which never happens while the writer keeps writing
//! during the copies (it grew by 1.5 GB in 15 s when that was all). So once
//! the WAL is long, the writer itself copies the few frames written during
//! the last pass, between two commits and after their acknowledgements are
//! out: its next commit then starts the WAL afresh.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use super::StoreError;

/// Commits between two passes (a few frames each).
const COMMITS_PER_PASS: u64 = 64;

/// A pass after this long without one, if anything was committed since.
const IDLE_PASS: Duration = Duration::from_millis(500);

/// A WAL this many frames long (4 KiB each) is started over.
const RESTART_FRAMES: i64 = 2_000;

/// The writer starts the WAL over at least once per this many commits,
/// whether or not the thread got to run: the WAL's length is bounded.
const RESTART_COMMITS: u64 = 1_024;

#[derive(Default)]
struct Shared {
    /// Commits since the last pass.
    commits: AtomicU64,
    /// Set by a pass that found the WAL long: the writer finishes the copy.
    restart: AtomicBool,
    stop: AtomicBool,
    nudge: (Mutex<()>, Condvar),
}

/// The checkpoint thread, and what the writer tells it.
pub struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The writer's commits since the WAL was last copied to its end.
    since_restart: u64,
    /// Why the writer's last copy failed (said once, not at every commit).
    failing: Option<String>,
}

/// A checkpoint's answer: `(blocked, frames in the WAL, frames copied)`.
fn checkpoint(conn: &Connection) -> rusqlite::Result<(bool, i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`, whose writer has
    /// automatic checkpoints off.
    pub fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("event-log-checkpoint".into())
            .spawn({
                let shared = shared.clone();
                move || run(conn, &shared)
            })
            .map_err(|e| StoreError(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
            since_restart: 0,
            failing: None,
        })
    }

    /// Counts a commit; every so many wake the thread.
    pub fn committed(&mut self) {
        self.since_restart += 1;
        let n = self.shared.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(COMMITS_PER_PASS) {
            self.shared.nudge.1.notify_one();
        }
    }

    /// Between two commits: when the WAL is long, copies what the last
    /// pass left on `writer`, so that the next commit starts the WAL over.
    pub fn between_commits(&mut self, writer: &Connection) {
        if !self.shared.restart.load(Ordering::Relaxed) && self.since_restart < RESTART_COMMITS {
            return;
        }
        match checkpoint(writer) {
            // Copied to the end: done. Blocked (the thread is in a pass):
            // tried again after the next commit.
            Ok((false, log, copied)) if copied >= log => {
                self.shared.restart.store(false, Ordering::Relaxed);
                self.since_restart = 0;
                self.failing = None;
            }
            Ok(_) => {}
            Err(e) => {
                let e = e.to_string();
                if self.failing.as_ref() != Some(&e) {
                    tracing::warn!("checkpointing the event log: {e}");
                    self.failing = Some(e);
                }
            }
        }
    }
}

fn run(conn: Connection, shared: &Shared) {
    let (lock, nudge) = &shared.nudge;
    loop {
        {
            let mut guard = lock.lock();
            if shared.commits.load(Ordering::Relaxed) < COMMITS_PER_PASS
                && !shared.stop.load(Ordering::Relaxed)
            {
                nudge.wait_for(&mut guard, IDLE_PASS);
            }
        }
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if shared.commits.swap(0, Ordering::Relaxed) == 0 {
            continue;
        }
        match checkpoint(&conn) {
            Ok((_, log, _)) => {
                if log >= RESTART_FRAMES {
                    shared.restart.store(true, Ordering::Relaxed);
                }
            }
            // A full disk says so at the writer's next commit; a pass that
            // failed is tried again at the next nudge.
            Err(e) => tracing::debug!("checkpointing the event log: {e}"),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.nudge.1.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_frames(conn: &Connection) -> i64 {
        // A checkpoint that copies nothing new reports the WAL's length.
        checkpoint(conn).unwrap().1
    }

    #[test]
    fn the_wal_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (x BLOB);",
            )
            .unwrap();
        let mut checkpointer = Checkpointer::start(&path).unwrap();
        let mut longest = 0;
        // Four rows fill a page, so each commit writes a page or two:
        // 20,000 commits are over 20,000 frames, ten times the length at
        // which the WAL starts over.
        for i in 0..20_000 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(?1))", [1_000 + i % 7])
                .unwrap();
            checkpointer.committed();
            checkpointer.between_commits(&writer);
            if i % 500 == 0 {
                longest = longest.max(
                    std::fs::metadata(dir.path().join("log.db-wal"))
                        .unwrap()
                        .len(),
                );
            }
        }
        drop(checkpointer);
        let frames = wal_frames(&writer);
        let count: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 20_000);
        // The file keeps its longest length: at most what the commits
        // between two restarts wrote (about two pages each, with some
        // commits of slack for a busy pass), not what all of them wrote.
        let bound = 2 * (RESTART_COMMITS + 1_000) * 4_200;
        assert!(
            longest < bound,
            "the WAL grew to {longest} bytes ({frames} frames now)"
        );
    }
}
