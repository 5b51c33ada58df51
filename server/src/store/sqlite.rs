use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row};
use ulid::Ulid;

use super::checkpoint::Checkpointer;
use super::index::{from_micros, micros, status_code, status_from_code, ulid_from};
use super::{format, Durability, EventLog, IndexRow, JobRecord, RunQuery, RunRecord, StoreError};
use crate::events::{Event, EventKind};

/// The event log in one SQLite file, in WAL mode.
///
/// `synchronous = NORMAL` (the default [`Durability`]): a commit is durable
/// once the OS has the WAL pages, so a killed process (even `kill -9`)
/// loses nothing committed; only a power cut can lose the last commits.
/// `FULL` syncs the WAL at every commit, for power cuts too.
pub struct SqliteLog {
    conn: Connection,
    /// The writer's connection has one; readers have none.
    checkpointer: Option<Checkpointer>,
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
        // No commit checkpoints the WAL: a thread beside the writer does
        // (`checkpoint`), so that no acknowledgement waits for one.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA busy_timeout = 5000;
             PRAGMA wal_autocheckpoint = 0;
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
        let checkpointer = Some(Checkpointer::start(path)?);
        Ok(Self { conn, checkpointer })
    }

    fn committed(&mut self) {
        if let Some(c) = &mut self.checkpointer {
            c.committed();
        }
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
        Ok(Self {
            conn,
            checkpointer: None,
        })
    }
}

/// The schema's changes since the first release, in order; `user_version`
/// counts those applied. Each runs once, in a transaction of its own.
const MIGRATIONS: &[&str] = &[
    // 1: the body's format version (`store::format`); earlier rows are 1.
    "ALTER TABLE events ADD COLUMN v INTEGER NOT NULL DEFAULT 1",
    // 2: the read index (`store::index`); ids are 16-byte big-endian ULIDs,
    // which sort as the ids do; times are microseconds since the epoch.
    "CREATE TABLE run_index (
         run_id        BLOB PRIMARY KEY,
         job_id        BLOB NOT NULL,
         workflow_id   TEXT NOT NULL,
         job_name      TEXT NOT NULL,
         status        TEXT NOT NULL,
         created_at    INTEGER NOT NULL,
         completed_at  INTEGER,
         duration_secs REAL,
         steps_total   INTEGER NOT NULL,
         steps_done    INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX run_index_by_workflow ON run_index (workflow_id, run_id);
     CREATE INDEX run_index_by_job ON run_index (job_id, run_id);
     CREATE INDEX run_index_by_status ON run_index (status, run_id);
     CREATE TABLE job_index (
         job_id      BLOB PRIMARY KEY,
         name        TEXT NOT NULL,
         workflow_id TEXT NOT NULL,
         description TEXT,
         created_at  INTEGER NOT NULL,
         seq         INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX job_index_by_workflow ON job_index (workflow_id, job_id);
     CREATE TABLE index_state (through INTEGER NOT NULL);
     INSERT INTO index_state VALUES (0)",
    // 3: approvals' runs, so that an approval memory no longer holds is
    // folded back from its run's events.
    "CREATE TABLE approval_index (
         approval_id BLOB PRIMARY KEY,
         run_id      BLOB NOT NULL
     ) WITHOUT ROWID;
     UPDATE index_state SET through = 0",
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
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn append(&mut self, events: &[&Event]) -> Result<u64, StoreError> {
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
        tx.commit().map_err(err)?;
        self.committed();
        Ok(events.first().map_or(0, |e| e.seq))
    }

    fn between_commits(&mut self) {
        if let Some(c) = &mut self.checkpointer {
            c.between_commits(&self.conn);
        }
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

    fn event(&mut self, seq: u64) -> Result<Option<Event>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, at, v, body FROM events WHERE seq = ?1")
            .map_err(err)?;
        let row = stmt
            .query_row([seq as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .optional()
            .map_err(err)?;
        row.map(|(seq, at, v, body)| decode(seq, &at, v, &body))
            .transpose()
    }

    fn indexed_through(&mut self) -> Result<u64, StoreError> {
        let through: i64 = self
            .conn
            .query_row("SELECT through FROM index_state", [], |r| r.get(0))
            .map_err(err)?;
        Ok(through as u64)
    }

    fn write_index(&mut self, rows: &[&IndexRow], through: u64) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(err)?;
        write_index(&tx, rows)?;
        set_indexed_through(&tx, through)?;
        tx.commit().map_err(err)?;
        self.committed();
        Ok(())
    }

    fn runs(&mut self, q: &RunQuery) -> Result<Vec<RunRecord>, StoreError> {
        let (conditions, mut values) = run_conditions(q);
        values.push(Value::Integer(q.limit.min(i64::MAX as usize) as i64));
        let sql = format!(
            "SELECT run_id, job_id, workflow_id, job_name, status, created_at, completed_at, \
             duration_secs, steps_total, steps_done FROM run_index WHERE {conditions} \
             ORDER BY run_id DESC LIMIT ?"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let rows = stmt
            .query_map(params_from_iter(values), run_record)
            .map_err(err)?;
        rows.map(|r| r.map_err(err)?).collect()
    }

    fn count_runs(&mut self, q: &RunQuery) -> Result<u64, StoreError> {
        let (conditions, values) = run_conditions(q);
        let sql = format!("SELECT count(*) FROM run_index WHERE {conditions}");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let n: i64 = stmt
            .query_row(params_from_iter(values), |r| r.get(0))
            .map_err(err)?;
        Ok(n as u64)
    }

    fn job(&mut self, job_id: Ulid) -> Result<Option<JobRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT job_id, name, workflow_id, description, created_at, seq \
                 FROM job_index WHERE job_id = ?1",
            )
            .map_err(err)?;
        let row = stmt
            .query_row([job_id.to_bytes().as_slice()], job_record)
            .optional()
            .map_err(err)?;
        row.transpose()
    }

    fn job_runs(
        &mut self,
        jobs: &[Ulid],
        below: Ulid,
        except: &[Ulid],
    ) -> Result<Vec<(Ulid, u64, Ulid)>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let marks = |n: usize| vec!["?"; n].join(", ");
        let mut sql = format!(
            "SELECT job_id, count(*), max(run_id) FROM run_index \
             WHERE job_id IN ({}) AND run_id < ?",
            marks(jobs.len())
        );
        if !except.is_empty() {
            sql.push_str(&format!(" AND run_id NOT IN ({})", marks(except.len())));
        }
        sql.push_str(" GROUP BY job_id");
        let values = jobs
            .iter()
            .chain([&below])
            .chain(except)
            .map(|id| Value::Blob(id.to_bytes().to_vec()));
        let mut stmt = self.conn.prepare(&sql).map_err(err)?;
        let rows = stmt
            .query_map(params_from_iter(values), |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(err)?;
        rows.map(|row| {
            let (job, n, last) = row.map_err(err)?;
            Ok((ulid_from(&job)?, n as u64, ulid_from(&last)?))
        })
        .collect()
    }

    fn approval_run(&mut self, approval_id: Ulid) -> Result<Option<Ulid>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT run_id FROM approval_index WHERE approval_id = ?1")
            .map_err(err)?;
        let run: Option<Vec<u8>> = stmt
            .query_row([approval_id.to_bytes().as_slice()], |r| r.get(0))
            .optional()
            .map_err(err)?;
        run.map(|r| ulid_from(&r)).transpose()
    }

    fn jobs(
        &mut self,
        workflow_id: Option<&str>,
        below: Ulid,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let below = below.to_bytes().to_vec();
        let select =
            "SELECT job_id, name, workflow_id, description, created_at, seq FROM job_index";
        let rows: Vec<Result<JobRecord, StoreError>> = match workflow_id {
            Some(w) => {
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!(
                        "{select} WHERE workflow_id = ?1 AND job_id < ?2 ORDER BY job_id DESC LIMIT ?3"
                    ))
                    .map_err(err)?;
                let rows = stmt
                    .query_map(params![w, below, limit], job_record)
                    .map_err(err)?;
                rows.map(|r| r.map_err(err)?).collect()
            }
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!(
                        "{select} WHERE job_id < ?1 ORDER BY job_id DESC LIMIT ?2"
                    ))
                    .map_err(err)?;
                let rows = stmt
                    .query_map(params![below, limit], job_record)
                    .map_err(err)?;
                rows.map(|r| r.map_err(err)?).collect()
            }
        };
        rows.into_iter().collect()
    }
}

fn write_index(tx: &rusqlite::Transaction<'_>, rows: &[&IndexRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut run = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO run_index (run_id, job_id, workflow_id, job_name, status, \
             created_at, completed_at, duration_secs, steps_total, steps_done) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(err)?;
    let mut job = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO job_index (job_id, name, workflow_id, description, \
             created_at, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(err)?;
    let mut approval = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO approval_index (approval_id, run_id) VALUES (?1, ?2)",
        )
        .map_err(err)?;
    for row in rows {
        match row {
            IndexRow::Run(r) => run
                .execute(params![
                    r.run_id.to_bytes().as_slice(),
                    r.job_id.to_bytes().as_slice(),
                    &*r.workflow_id,
                    &*r.job_name,
                    status_code(r.status),
                    micros(r.created_at),
                    r.completed_at.map(micros),
                    r.duration_secs,
                    r.steps_total,
                    r.steps_done,
                ])
                .map_err(err)?,
            IndexRow::Job(j) => job
                .execute(params![
                    j.job_id.to_bytes().as_slice(),
                    &*j.name,
                    &*j.workflow_id,
                    j.description.as_deref(),
                    micros(j.created_at),
                    j.seq as i64,
                ])
                .map_err(err)?,
            IndexRow::Approval(a) => approval
                .execute(params![
                    a.approval_id.to_bytes().as_slice(),
                    a.run_id.to_bytes().as_slice(),
                ])
                .map_err(err)?,
        };
    }
    Ok(())
}

fn set_indexed_through(tx: &rusqlite::Transaction<'_>, seq: u64) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE index_state SET through = max(through, ?1)")
        .map_err(err)?
        .execute([seq as i64])
        .map_err(err)?;
    Ok(())
}

/// The `WHERE` clause of a run query and its values, in order.
fn run_conditions(q: &RunQuery) -> (String, Vec<Value>) {
    let mut conditions = vec!["run_id < ?".to_string()];
    let mut values = vec![Value::Blob(q.below.to_bytes().to_vec())];
    if let Some(status) = q.filter.status {
        conditions.push("status = ?".into());
        values.push(Value::Text(status_code(status).into()));
    }
    if let Some(w) = &q.filter.workflow_id {
        conditions.push("workflow_id = ?".into());
        values.push(Value::Text(w.clone()));
    }
    if let Some(j) = q.filter.job_id {
        conditions.push("job_id = ?".into());
        values.push(Value::Blob(j.to_bytes().to_vec()));
    }
    if let Some(until) = q.filter.active_until {
        conditions.push("created_at < ?".into());
        values.push(Value::Integer(micros(until)));
    }
    if let Some(since) = q.filter.active_since {
        conditions.push("(completed_at IS NULL OR completed_at >= ?)".into());
        values.push(Value::Integer(micros(since)));
    }
    if !q.except.is_empty() {
        let marks = vec!["?"; q.except.len()].join(", ");
        conditions.push(format!("run_id NOT IN ({marks})"));
        values.extend(
            q.except
                .iter()
                .map(|id| Value::Blob(id.to_bytes().to_vec())),
        );
    }
    (conditions.join(" AND "), values)
}

/// A run row, or what is wrong with it (the outer error is SQLite's).
fn run_record(row: &Row<'_>) -> rusqlite::Result<Result<RunRecord, StoreError>> {
    let run_id: Vec<u8> = row.get(0)?;
    let job_id: Vec<u8> = row.get(1)?;
    let workflow_id: String = row.get(2)?;
    let job_name: String = row.get(3)?;
    let status: String = row.get(4)?;
    let created_at: i64 = row.get(5)?;
    let completed_at: Option<i64> = row.get(6)?;
    let duration_secs: Option<f64> = row.get(7)?;
    let steps_total: u32 = row.get(8)?;
    let steps_done: u32 = row.get(9)?;
    Ok((|| {
        Ok(RunRecord {
            run_id: ulid_from(&run_id)?,
            job_id: ulid_from(&job_id)?,
            workflow_id: workflow_id.into(),
            job_name: job_name.into(),
            status: status_from_code(&status)
                .ok_or_else(|| StoreError(format!("unknown status {status:?} in the index")))?,
            created_at: from_micros(created_at)?,
            completed_at: completed_at.map(from_micros).transpose()?,
            duration_secs,
            steps_total,
            steps_done,
        })
    })())
}

fn job_record(row: &Row<'_>) -> rusqlite::Result<Result<JobRecord, StoreError>> {
    let job_id: Vec<u8> = row.get(0)?;
    let name: String = row.get(1)?;
    let workflow_id: String = row.get(2)?;
    let description: Option<String> = row.get(3)?;
    let created_at: i64 = row.get(4)?;
    let seq: i64 = row.get(5)?;
    Ok((|| {
        Ok(JobRecord {
            job_id: ulid_from(&job_id)?,
            name: name.into(),
            workflow_id: workflow_id.into(),
            description,
            created_at: from_micros(created_at)?,
            seq: seq as u64,
        })
    })())
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
