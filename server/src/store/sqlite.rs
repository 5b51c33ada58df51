use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags};

use super::{format, Durability, EventLog, StoreError};
use crate::events::{Event, EventKind};

/// The event log in one SQLite file, in WAL mode.
///
/// `synchronous = NORMAL` (the default [`Durability`]): a commit is durable
/// once the OS has the WAL pages, so a killed process (even `kill -9`)
/// loses nothing committed; only a power cut can lose the last commits.
/// `FULL` syncs the WAL at every commit, for power cuts too.
pub struct SqliteLog {
    conn: Connection,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteLog {
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        let synchronous = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS events (
                 seq    INTEGER PRIMARY KEY,
                 at     TEXT NOT NULL,
                 run_id TEXT,
                 kind   TEXT NOT NULL,
                 body   TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq)
                 WHERE run_id IS NOT NULL;"
        ))
        .map_err(err)?;
        migrate(&conn)?;
        Ok(Self { conn })
    }

    /// A second connection for reads, beside the writer's. (Opened after
    /// the writer, which migrates the schema.)
    pub fn open_reader(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        Ok(Self { conn })
    }
}

/// The schema's changes since the first release, in order; `user_version`
/// counts those applied. Each runs once, in a transaction of its own.
const MIGRATIONS: &[&str] = &[
    // 1: the body's format version (`store::format`); earlier rows are 1.
    "ALTER TABLE events ADD COLUMN v INTEGER NOT NULL DEFAULT 1",
];

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let applied: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(err)?
        .try_into()
        .unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError(format!(
            "the log's schema is at version {applied}, newer than this release knows ({}): \
             it was written by a newer Shiioo",
            MIGRATIONS.len()
        )));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {step}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .map_err(|e| StoreError(format!("migrating the log to schema {}: {e}", i + 1)))?;
    }
    Ok(())
}

fn decode(seq: i64, at: &str, version: i64, body: &str) -> Result<Event, StoreError> {
    let at: DateTime<Utc> = at
        .parse()
        .map_err(|e| StoreError(format!("event {seq}: bad timestamp {at:?}: {e}")))?;
    let version = u32::try_from(version)
        .map_err(|_| StoreError(format!("event {seq}: bad format version {version}")))?;
    let kind: EventKind =
        format::decode(version, body).map_err(|e| StoreError(format!("event {seq}: {e}")))?;
    Ok(Event {
        seq: seq as u64,
        at,
        kind,
    })
}

impl EventLog for SqliteLog {
    fn append(&mut self, events: &[&Event]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (seq, at, run_id, kind, v, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            let mut body = Vec::with_capacity(256);
            for event in events {
                body.clear();
                format::encode(&event.kind, &mut body).map_err(err)?;
                let body = std::str::from_utf8(&body).map_err(err)?;
                insert
                    .execute(params![
                        event.seq as i64,
                        event
                            .at
                            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                        event.kind.run_id().map(|r| r.to_string()),
                        event.kind.name(),
                        format::VERSION,
                        body,
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn replay(&mut self, f: &mut dyn FnMut(Event)) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at, v, body FROM events ORDER BY seq")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut count = 0;
        while let Some(row) = rows.next().map_err(err)? {
            let seq: i64 = row.get(0).map_err(err)?;
            let at = row.get_ref(1).map_err(err)?.as_str().map_err(err)?;
            let version: i64 = row.get(2).map_err(err)?;
            let body = row.get_ref(3).map_err(err)?.as_str().map_err(err)?;
            f(decode(seq, at, version, body)?);
            count += 1;
        }
        Ok(count)
    }

    fn run_events(&mut self, run_id: &str) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, at, v, body FROM events WHERE run_id = ?1 ORDER BY seq")
            .map_err(err)?;
        let mut rows = stmt.query([run_id]).map_err(err)?;
        let mut events = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let seq: i64 = row.get(0).map_err(err)?;
            let at = row.get_ref(1).map_err(err)?.as_str().map_err(err)?;
            let version: i64 = row.get(2).map_err(err)?;
            let body = row.get_ref(3).map_err(err)?.as_str().map_err(err)?;
            events.push(decode(seq, at, version, body)?);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SubsecRound;
    use ulid::Ulid;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at: Utc::now().trunc_subsecs(6),
            kind,
        }
    }

    #[test]
    fn appends_replay_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let run_id = Ulid::new();
        let events = [
            event(1, EventKind::RunStarted { run_id }),
            event(
                2,
                EventKind::RunCompleted {
                    run_id,
                    duration_secs: 1.5,
                },
            ),
        ];
        {
            let mut log = SqliteLog::open(&path, Durability::Normal).unwrap();
            log.append(&events.iter().collect::<Vec<_>>()).unwrap();
        }
        let mut log = SqliteLog::open(&path, Durability::Normal).unwrap();
        let mut seen = Vec::new();
        assert_eq!(log.replay(&mut |e| seen.push(e)).unwrap(), 2);
        assert_eq!(seen, events);
        let mut reader = SqliteLog::open_reader(&path).unwrap();
        assert_eq!(reader.run_events(&run_id.to_string()).unwrap(), events);
        assert!(reader.run_events("nope").unwrap().is_empty());
    }

    #[test]
    fn a_batch_with_a_duplicate_seq_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = SqliteLog::open(&dir.path().join("log.db"), Durability::Full).unwrap();
        let run_id = Ulid::new();
        let a = event(1, EventKind::RunStarted { run_id });
        let b = event(
            1,
            EventKind::RunInterrupted {
                run_id,
                stopped_at: None,
            },
        );
        assert!(log.append(&[&a, &b]).is_err());
        assert_eq!(log.replay(&mut |_| {}).unwrap(), 0);
    }

    #[test]
    fn a_log_from_a_newer_release_is_refused_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        drop(SqliteLog::open(&path, Durability::Normal).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        let e = SqliteLog::open(&path, Durability::Normal).err().unwrap();
        assert!(e.0.contains("newer Shiioo"), "{e}");
    }
}
