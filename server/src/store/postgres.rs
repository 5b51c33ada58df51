//! The event log in PostgreSQL (13 or newer): the same events, in the same
//! stored format ([`format`]), and the same read index as the SQLite log,
//! in a database several nodes can share.
//!
//! tokio-postgres, with deadpool-postgres's pool: the protocol's own
//! pipelining and binary arrays let a batch of events go in one statement
//! (`UNNEST`) and one round trip, the pool replaces connections a database
//! restart broke, and its raw connection stream is what `LISTEN` needs. (sqlx
//! would add a compile-time query checker that wants a database at build
//! time, and a runtime-agnostic layer we do not use.)
//!
//! [`EventLog`] is synchronous: its callers are the writer's thread and
//! blocking tasks. The database's futures run on a small runtime of this
//! store's own, and callers wait for them on a plain channel, so that a call
//! made from inside the server's runtime (the replay at start-up) blocks
//! only its thread, as a SQLite call does.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use ulid::Ulid;

use super::index::{from_micros, micros, status_code, status_from_code, ulid_from};
use super::{format, EventLog, IndexRow, JobRecord, RunQuery, RunRecord, StoreError};
use crate::events::{Event, EventKind};

/// Connections per node: one for the writer, the rest for reads.
const POOL_SIZE: usize = 8;

/// Longest wait for a connection (to be made, or to come free): past it a
/// call fails, as a SQLite call does when its disk does.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Events read per batch while replaying.
const REPLAY_BATCH: usize = 4_096;

/// Taken (as a transaction-level advisory lock) by whoever migrates the
/// schema, so that nodes starting together migrate it once.
const MIGRATION_LOCK: i64 = 0x5348_4949_4f4f_0001;

/// The schema's changes, in order; `shiioo_schema` counts those applied.
/// Each runs in the transaction that holds [`MIGRATION_LOCK`].
const MIGRATIONS: &[&str] = &[
    // 1: the events, and the read index (`store::index`): ids are 16-byte
    // big-endian ULIDs, which sort as the ids do; times in the index are
    // microseconds since the epoch, as in SQLite's.
    "CREATE TABLE events (
         seq    BIGINT PRIMARY KEY,
         at     TIMESTAMPTZ NOT NULL,
         run_id TEXT,
         kind   TEXT NOT NULL,
         v      INTEGER NOT NULL,
         body   TEXT NOT NULL
     );
     CREATE INDEX events_by_run ON events (run_id, seq) WHERE run_id IS NOT NULL;
     CREATE TABLE run_index (
         run_id        BYTEA PRIMARY KEY,
         job_id        BYTEA NOT NULL,
         workflow_id   TEXT NOT NULL,
         job_name      TEXT NOT NULL,
         status        TEXT NOT NULL,
         created_at    BIGINT NOT NULL,
         completed_at  BIGINT,
         duration_secs DOUBLE PRECISION,
         steps_total   INTEGER NOT NULL,
         steps_done    INTEGER NOT NULL
     );
     CREATE INDEX run_index_by_workflow ON run_index (workflow_id, run_id);
     CREATE INDEX run_index_by_job ON run_index (job_id, run_id);
     CREATE INDEX run_index_by_status ON run_index (status, run_id);
     CREATE TABLE job_index (
         job_id      BYTEA PRIMARY KEY,
         name        TEXT NOT NULL,
         workflow_id TEXT NOT NULL,
         description TEXT,
         created_at  BIGINT NOT NULL,
         seq         BIGINT NOT NULL
     );
     CREATE INDEX job_index_by_workflow ON job_index (workflow_id, job_id);
     CREATE TABLE approval_index (
         approval_id BYTEA PRIMARY KEY,
         run_id      BYTEA NOT NULL
     );
     CREATE TABLE index_state (through BIGINT NOT NULL);
     INSERT INTO index_state VALUES (0);",
    // 2: which server wrote each event (its `--node-id`): a cluster's
    // servers share the log, and a follower skips its own.
    "ALTER TABLE events ADD COLUMN node TEXT;",
    // 3: several writers. Each append leaves its token, so that a retry
    // whose first COMMIT went through unanswered finds it (the log gives
    // the `seq`s, so a batch is no longer known by them); each server says
    // how far the index has its own events' rows.
    "CREATE TABLE appends (
         token     BIGINT PRIMARY KEY,
         node      TEXT NOT NULL,
         first_seq BIGINT NOT NULL,
         at        TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE TABLE index_progress (node TEXT PRIMARY KEY, through BIGINT NOT NULL);
     INSERT INTO index_progress SELECT '', through FROM index_state;
     DROP TABLE index_state;",
    // 4: the cluster's servers and their leases: each renews its own
    // (`seen_at`); one whose lease lapsed is taken over by exactly one
    // other (`taken_by`), which runs its runs from then on.
    "CREATE TABLE nodes (
         node       TEXT PRIMARY KEY,
         started_at TIMESTAMPTZ NOT NULL,
         seen_at    TIMESTAMPTZ NOT NULL,
         lease_secs INTEGER NOT NULL,
         free_slots INTEGER NOT NULL DEFAULT 0,
         taken_by   TEXT,
         taken_at   TIMESTAMPTZ
     );",
];

/// The channel appends notify (with the writer's node id): a wake-up for
/// the servers that follow the log, never its data (a payload holds 8 kB).
const CHANNEL: &str = "shiioo_events";

/// Appends' tokens are kept this long: far longer than any retry.
const TOKENS_KEPT: &str = "1 hour";

/// One append in this many also clears the old tokens.
const PRUNE_EVERY: u64 = 4_096;

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// What a PostgreSQL error says, with its detail: tokio-postgres's own
/// `Display` of a server error is only "db error".
fn pg(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        return StoreError(format!("{}: {}", db.severity(), db.message()));
    }
    // "error connecting to server" says little without its cause.
    let mut message = format!("postgres: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    StoreError(message)
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        deadpool_postgres::PoolError::Timeout(_) => {
            StoreError("postgres: no connection within 5 s (is the database up?)".into())
        }
        e => StoreError(format!("postgres: {e}")),
    }
}

/// Held (as a transaction-level advisory lock) by each append: `seq`s are
/// given in commit order, so that a reader of `seq > n` never sees a later
/// event before an earlier one commits.
const APPEND_LOCK: i64 = 0x5348_4949_4f4f_0003;

/// The first key of the session-level advisory lock each server holds on
/// its node id (the second is the id's `hashtext`): two servers under one
/// id would each take the other's events for their own.
const NODE_LOCK: i32 = 0x5348_4901;

/// Held (as a session-level advisory lock) by the cluster's leader: the
/// one server that evaluates alert rules and fires routines.
const LEADER_LOCK: i64 = 0x5348_4949_4f4f_0004;

/// The pool and the runtime its connections live on.
struct Db {
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// The connection holding this node's lock, once taken.
    node_lock: parking_lot::Mutex<Option<deadpool_postgres::ClientWrapper>>,
    /// The connection holding [`LEADER_LOCK`], while this server leads.
    leader_lock: parking_lot::Mutex<Option<deadpool_postgres::ClientWrapper>>,
    /// For connections of their own (`LISTEN`'s).
    config: tokio_postgres::Config,
    /// Another node took this one over: it may write nothing more.
    fenced: std::sync::atomic::AtomicBool,
}

/// Why a node that was taken over may not write.
pub const FENCED: &str = "another node of the cluster took this node's runs over (its lease \
    lapsed): it may write nothing more, and stops";

impl Drop for Db {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which a runtime's own
        // thread (where the last handle may be dropped) must not do.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Db {
    /// Runs `f` on the store's runtime and waits for it, from any thread.
    fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let fut = f(self.pool.clone());
        self.runtime().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError("postgres: the store's runtime stopped".into()))?
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("taken only when dropped")
    }
}

/// The event log in PostgreSQL. Clones share one pool of connections.
#[derive(Clone)]
pub struct PostgresLog {
    db: Arc<Db>,
    /// `--node-id`, written beside each event.
    node: Arc<str>,
    /// This node's lease, once it joined a cluster.
    lease_secs: Arc<std::sync::atomic::AtomicU32>,
    /// The batch being appended (its first event's `seq` here) and its
    /// token, kept until it is stored: a retry of it reuses the token.
    pending: Option<(u64, i64)>,
    appends: u64,
}

impl PostgresLog {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and
    /// brings the schema up to date.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_as(url, "")
    }

    /// `connect`, its sessions named after `node` (`pg_stat_activity`'s
    /// `application_name`), unless the URL names them.
    pub fn connect_as(url: &str, node: &str) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError(format!("--database-url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(format!("shiioo {node}").trim_end());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shiioo-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("cannot start the postgres runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection a database restart broke is closed, and so
                // replaced; one that only looks alive fails its next call,
                // which the writer retries.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _guard = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(err)?
        };
        let log = PostgresLog {
            node: node.into(),
            db: Arc::new(Db {
                runtime: Some(runtime),
                pool,
                node_lock: parking_lot::Mutex::new(None),
                leader_lock: parking_lot::Mutex::new(None),
                config,
                fenced: Default::default(),
            }),
            pending: None,
            appends: 0,
            lease_secs: Default::default(),
        };
        log.db.call(|pool| async move { migrate(&pool).await })?;
        Ok(log)
    }

    /// This server's node id, or another server's that holds it: the lock
    /// lives as long as a connection of its own (a process that dies loses
    /// it with its connection).
    pub fn claim_node(&self) -> Result<(), StoreError> {
        let node = self.node.to_string();
        let client = self.call(|pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let taken: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))",
                    &[&NODE_LOCK, &node],
                )
                .await
                .map_err(pg)?
                .get(0);
            if taken {
                // Out of the pool: the lock must not go back with it.
                return Ok(deadpool_postgres::Object::take(client));
            }
            let holder = client
                .query_opt(
                    "SELECT coalesce(host(a.client_addr), 'local'), a.pid \
                     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.classid::bigint = $1 \
                     AND l.objid::bigint = hashtext($2)::bigint & 4294967295 \
                     AND l.objsubid = 2 AND l.granted LIMIT 1",
                    &[&(NODE_LOCK as i64), &node],
                )
                .await
                .ok()
                .flatten()
                .map(|r| {
                    format!(
                        " (from {}, backend pid {})",
                        r.get::<_, String>(0),
                        r.get::<_, i32>(1)
                    )
                })
                .unwrap_or_default();
            Err(StoreError(format!(
                "another Shiioo server runs as node {node:?} on this database{holder}: give each \
                 server its own --node-id"
            )))
        })?;
        *self.db.node_lock.lock() = Some(client);
        Ok(())
    }

    /// Takes the node's lock again if its connection was lost (a database
    /// restart ends the session, and the lock with it), before anything is
    /// written: or says who took it meanwhile.
    fn keep_node(&self) -> Result<(), StoreError> {
        let lost = self
            .db
            .node_lock
            .lock()
            .as_ref()
            .is_some_and(|client| client.is_closed());
        if lost {
            self.claim_node()?;
            tracing::info!("took this node's lock again after its connection was lost");
        }
        Ok(())
    }

    /// Gives up this node's lock and the lead, at once: the server stops
    /// (a process that dies loses them with its connections).
    pub fn release(&self) {
        let held: Vec<_> = [
            self.db.node_lock.lock().take(),
            self.db.leader_lock.lock().take(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let _ = self.call(|_| async move {
            for client in held {
                let _ = client.simple_query("SELECT pg_advisory_unlock_all()").await;
            }
            Ok(())
        });
    }

    /// This server's node id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Joins the cluster (again) under this node id, with a lease of
    /// `lease_secs`; answers who took this node's runs over while it was
    /// gone, if anyone did (its runs are theirs then, not to resume here).
    pub fn join(&self, lease_secs: u32) -> Result<Option<String>, StoreError> {
        self.lease_secs
            .store(lease_secs, std::sync::atomic::Ordering::Relaxed);
        // Nodes taken over long ago are history (a default node id changes
        // at each restart): the list stays that of the cluster now.
        self.query(
            "DELETE FROM nodes WHERE taken_at < now() - interval '1 day'".into(),
            vec![],
        )?;
        let rows = self.query(
            "WITH old AS (SELECT taken_by FROM nodes WHERE node = $1) \
             INSERT INTO nodes (node, started_at, seen_at, lease_secs) VALUES ($1, now(), now(), $2) \
             ON CONFLICT (node) DO UPDATE SET started_at = now(), seen_at = now(), \
                 lease_secs = $2, taken_by = NULL, taken_at = NULL \
             RETURNING (SELECT taken_by FROM old)"
                .into(),
            vec![
                Box::new(self.node.to_string()),
                Box::new(lease_secs.min(i32::MAX as u32) as i32),
            ],
        )?;
        rows.first()
            .map(|r| r.try_get::<_, Option<String>>(0).map_err(pg))
            .transpose()
            .map(Option::flatten)
    }

    /// The lease this node joined with (0 before it joined).
    pub fn lease_secs(&self) -> u32 {
        self.lease_secs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Renews this node's lease, saying how many more steps it could run;
    /// false if another node took it over meanwhile (its lease lapsed).
    pub fn renew(&self, free_slots: usize) -> Result<bool, StoreError> {
        let rows = self.query(
            "UPDATE nodes SET seen_at = now(), free_slots = $2 \
             WHERE node = $1 AND taken_by IS NULL RETURNING node"
                .into(),
            vec![
                Box::new(self.node.to_string()),
                Box::new(free_slots.min(i32::MAX as usize) as i32),
            ],
        )?;
        if rows.is_empty() {
            self.db
                .fenced
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(!rows.is_empty())
    }

    /// Whether another node took this one over (found by an append or a
    /// renewal): the server must stop.
    pub fn fenced(&self) -> bool {
        self.db.fenced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cluster's nodes as the database has them now, and the leader.
    pub fn cluster(&self) -> Result<wire::ClusterHealth, StoreError> {
        let rows = self.query(
            "SELECT node, seen_at >= now() - make_interval(secs => lease_secs) AND taken_by IS NULL, \
                 CASE WHEN isfinite(seen_at) \
                     THEN greatest(extract(epoch FROM now() - seen_at), 0)::float8 END, \
                 lease_secs, free_slots, taken_by FROM nodes ORDER BY node"
                .into(),
            vec![],
        )?;
        let nodes = rows
            .iter()
            .map(|r| {
                let seen: Option<f64> = r.try_get(2).map_err(pg)?;
                Ok(wire::ClusterNode {
                    node_id: r.try_get(0).map_err(pg)?,
                    alive: r.try_get(1).map_err(pg)?,
                    seen_secs_ago: seen.map(|s| (s * 1e3).round() / 1e3),
                    lease_secs: r.try_get::<_, i32>(3).map_err(pg)?.max(0) as u64,
                    free_slots: r.try_get::<_, i32>(4).map_err(pg)?.max(0) as u64,
                    taken_by: r.try_get(5).map_err(pg)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let leader = self.query(
            "SELECT substr(a.application_name, 8) FROM pg_locks l \
             JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
                 AND l.objsubid = 1 AND l.granted AND a.application_name LIKE 'shiioo %' LIMIT 1"
                .into(),
            vec![
                Box::new(LEADER_LOCK >> 32),
                Box::new(LEADER_LOCK & 0xffff_ffff),
            ],
        )?;
        Ok(wire::ClusterHealth {
            leader: leader
                .first()
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(pg)?,
            nodes,
        })
    }

    /// Lets this node's lease lapse at once (a graceful stop): another
    /// node takes its runs over without waiting for it to run out.
    pub fn leave(&self) -> Result<(), StoreError> {
        self.query(
            "UPDATE nodes SET seen_at = '-infinity' WHERE node = $1 AND taken_by IS NULL".into(),
            vec![Box::new(self.node.to_string())],
        )
        .map(drop)
    }

    /// Takes over the nodes whose leases lapsed (by the database's clock,
    /// so that the nodes' clocks need not agree); each is taken by exactly
    /// one node, whichever asks first.
    pub fn take_lapsed(&self) -> Result<Vec<String>, StoreError> {
        const LAPSED: &str = "node <> $1 AND taken_by IS NULL \
             AND seen_at < now() - make_interval(secs => lease_secs)";
        let me = self.node.to_string();
        let any = self.query(
            format!("SELECT 1 FROM nodes WHERE {LAPSED} LIMIT 1"),
            vec![Box::new(me.clone())],
        )?;
        if any.is_empty() {
            return Ok(Vec::new());
        }
        // Under the appends' lock: every batch the lapsed node commits is
        // either in the log before it is taken (and the taker reads it
        // before resuming its runs) or refused after.
        self.call(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
                .await
                .map_err(pg)?;
            let rows = tx
                .query(
                    &format!(
                        "UPDATE nodes SET taken_by = $1, taken_at = now() WHERE {LAPSED} \
                         RETURNING node"
                    ),
                    &[&me],
                )
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0).map_err(pg))
                .collect()
        })
    }

    /// Where the batch that left `token` starts, if it is stored.
    fn stored_by(&self, token: i64) -> Result<Option<u64>, StoreError> {
        let rows = self.query(
            "SELECT first_seq FROM appends WHERE token = $1".into(),
            vec![Box::new(token)],
        )?;
        rows.first()
            .map(|r| Ok(r.try_get::<_, i64>(0).map_err(pg)? as u64))
            .transpose()
    }

    /// Whether this server leads the cluster, taking the lead if nobody
    /// holds it: the lock lives with a connection of its own, so a leader
    /// that dies or loses the database hands it on.
    pub fn lead(&self) -> Result<bool, StoreError> {
        let mut held = self.db.leader_lock.lock();
        if held.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(true);
        }
        *held = None;
        let taken = self.call(|pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let taken: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                .await
                .map_err(pg)?
                .get(0);
            Ok(taken.then(|| deadpool_postgres::Object::take(client)))
        })?;
        let leads = taken.is_some();
        *held = taken;
        Ok(leads)
    }

    /// Sends on `wake` whenever another server appends to the log, until
    /// `wake`'s receiver is gone; reconnects by itself. A wake-up only: the
    /// follower reads the events from the table (and polls besides, for
    /// what a lost connection let slip by).
    pub fn notify_appends(&self, wake: std::sync::mpsc::SyncSender<()>) {
        let config = self.db.config.clone();
        let node = self.node.to_string();
        self.db.runtime().spawn(async move {
            loop {
                match listen(&config, &node, &wake).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::debug!("listening for appends: {e}; again in a second");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    /// Up to `limit` events after `seq`, in order, each with the server
    /// that wrote it (`None` before servers had names): what a server that
    /// follows the log reads. `seq`s are given in commit order, so no event
    /// appears later below the last this returned.
    pub fn read_after(
        &self,
        seq: u64,
        limit: usize,
    ) -> Result<Vec<(Event, Option<String>)>, StoreError> {
        let rows = self.query(
            "SELECT seq, at, v, body, node FROM events WHERE seq > $1 ORDER BY seq LIMIT $2".into(),
            vec![
                Box::new(seq as i64),
                Box::new(limit.min(i64::MAX as usize) as i64),
            ],
        )?;
        rows.iter()
            .map(|r| Ok((event_of(r)?, r.try_get(4).map_err(pg)?)))
            .collect()
    }

    fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.db.call(f)
    }

    /// Rows of one query, with its parameters owned (they travel to the
    /// store's runtime).
    fn query(&self, sql: String, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        self.call(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
            client.query(&stmt, &refs).await.map_err(pg)
        })
    }
}

/// Forwards the channel's notifications (but this server's own) to `wake`
/// until its receiver is gone (`Ok`) or the connection fails.
async fn listen(
    config: &tokio_postgres::Config,
    node: &str,
    wake: &std::sync::mpsc::SyncSender<()>,
) -> Result<(), StoreError> {
    use futures::StreamExt;
    use std::sync::mpsc::TrySendError;
    let (client, mut connection) = config.connect(NoTls).await.map_err(pg)?;
    let (tx, mut messages) = futures::channel::mpsc::unbounded();
    let stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    tokio::spawn(stream.map(Ok).forward(tx));
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(pg)?;
    // Whatever was appended before the LISTEN took is found by the poll.
    let _ = wake.try_send(());
    while let Some(message) = messages.next().await {
        match message.map_err(pg)? {
            tokio_postgres::AsyncMessage::Notification(n) if n.payload() != node => {
                match wake.try_send(()) {
                    // Full: a wake-up is waiting already.
                    Ok(()) | Err(TrySendError::Full(())) => {}
                    Err(TrySendError::Disconnected(())) => return Ok(()),
                }
            }
            _ => {}
        }
    }
    Err(StoreError(
        "postgres: the listening connection closed".into(),
    ))
}

/// A query parameter that can travel between threads.
type Param = Box<dyn ToSql + Send + Sync>;

async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(pool_err)?;
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS shiioo_schema (
             version    INTEGER NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg)?;
    let applied: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM shiioo_schema", &[])
        .await
        .map_err(pg)?
        .get(0);
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError(format!(
            "the database's schema is at version {applied}, newer than this release knows ({}): \
             it was written by a newer Shiioo",
            MIGRATIONS.len()
        )));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = i as i32 + 1;
        tx.batch_execute(step).await.map_err(|e| {
            StoreError(format!(
                "migrating the database to schema {version}: {}",
                pg(e).0
            ))
        })?;
        tx.execute(
            "INSERT INTO shiioo_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

fn decode(seq: i64, at: DateTime<Utc>, version: i32, body: &str) -> Result<Event, StoreError> {
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

fn event_of(row: &Row) -> Result<Event, StoreError> {
    let seq: i64 = row.try_get(0).map_err(pg)?;
    let at: DateTime<Utc> = row.try_get(1).map_err(pg)?;
    let version: i32 = row.try_get(2).map_err(pg)?;
    let body: &str = row.try_get(3).map_err(pg)?;
    decode(seq, at, version, body)
}

/// How often an idle writer asks the database whether it is there.
const IDLE_CHECK: Duration = Duration::from_secs(1);

impl EventLog for PostgresLog {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn idle_check(&self) -> Option<Duration> {
        Some(IDLE_CHECK)
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.keep_node()?;
        self.call(|pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            client.simple_query("").await.map_err(pg)?;
            Ok(())
        })
    }

    fn append(&mut self, events: &[&Event]) -> Result<u64, StoreError> {
        let Some(first) = events.first().map(|e| e.seq) else {
            return Ok(0);
        };
        self.keep_node()?;
        // A batch tried before, whose COMMIT may have gone through with its
        // answer lost: if its token is there, so is the batch.
        let token = match self.pending {
            Some((seq, token)) if seq == first => {
                if let Some(stored) = self.stored_by(token)? {
                    self.pending = None;
                    return Ok(stored);
                }
                token
            }
            _ => {
                let token = (Ulid::new().0 as u64 & i64::MAX as u64) as i64;
                self.pending = Some((first, token));
                token
            }
        };
        let n = events.len();
        let (mut ats, mut runs, mut kinds, mut bodies) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut body = Vec::with_capacity(256);
        for event in events {
            body.clear();
            format::encode(&event.kind, &mut body).map_err(err)?;
            bodies.push(String::from_utf8(body.clone()).map_err(err)?);
            ats.push(event.at);
            runs.push(event.kind.run_id().map(|r| r.to_string()));
            kinds.push(event.kind.name());
        }
        let version = format::VERSION as i32;
        let node = self.node.to_string();
        self.appends += 1;
        let prune = self.appends.is_multiple_of(PRUNE_EVERY);
        let stored = self.call(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let stmt = client
                .prepare_cached(&format!(
                    "WITH base AS (SELECT coalesce(max(seq), 0) AS seq FROM events), \
                     fenced AS (SELECT EXISTS (SELECT 1 FROM nodes \
                         WHERE node = $6 AND taken_by IS NOT NULL) AS yes), \
                     ins AS (INSERT INTO events (seq, at, run_id, kind, v, body, node) \
                         SELECT base.seq + e.n, e.at, e.run_id, e.kind, $5, e.body, $6 \
                         FROM base, fenced, \
                             UNNEST($1::TIMESTAMPTZ[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) \
                             WITH ORDINALITY AS e (at, run_id, kind, body, n) \
                         WHERE NOT fenced.yes), \
                     mark AS (INSERT INTO appends (token, node, first_seq) \
                         SELECT $7, $6, base.seq + 1 FROM base, fenced WHERE NOT fenced.yes), \
                     note AS (SELECT pg_notify('{CHANNEL}', $6)) \
                     SELECT base.seq + 1, fenced.yes FROM base, fenced, note"
                ))
                .await
                .map_err(pg)?;
            // One round trip: the three go out together and run in order.
            // Under the lock each batch is numbered from the log's end, so
            // `seq`s are given in commit order and a follower reading past
            // `seq` n never misses an event that commits later below it.
            let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({APPEND_LOCK})");
            let end = if prune {
                format!("DELETE FROM appends WHERE at < now() - interval '{TOKENS_KEPT}'; COMMIT")
            } else {
                "COMMIT".to_string()
            };
            let params: [&(dyn ToSql + Sync); 7] =
                [&ats, &runs, &kinds, &bodies, &version, &node, &token];
            let (begun, inserted, committed) = tokio::join!(
                client.batch_execute(&begin),
                client.query_one(&stmt, &params),
                client.batch_execute(&end),
            );
            begun.map_err(pg)?;
            let row = inserted.map_err(pg)?;
            committed.map_err(pg)?;
            let (stored, fenced): (i64, bool) = (row.get(0), row.get(1));
            Ok((stored as u64, fenced))
        })?;
        if stored.1 {
            // Nothing went in: another node took this one's runs over.
            self.db
                .fenced
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(StoreError(FENCED.into()));
        }
        self.pending = None;
        Ok(stored.0)
    }

    fn replay(&mut self, f: &mut dyn FnMut(Event)) -> Result<u64, StoreError> {
        self.replay_marked(&mut |e, _| f(e))
    }

    fn replay_marked(&mut self, f: &mut dyn FnMut(Event, bool)) -> Result<u64, StoreError> {
        // Read in batches by `seq` on the store's runtime while this thread
        // folds the previous one: a log of millions of events is never in
        // memory whole.
        type Marked = Vec<(Event, bool)>;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Marked, StoreError>>(2);
        let pool = self.db.pool.clone();
        let node = self.node.to_string();
        self.db.runtime().spawn(async move {
            let read = async {
                let client = pool.get().await.map_err(pool_err)?;
                // Events from before servers had names were this one's:
                // there was one server then.
                let stmt = client
                    .prepare(
                        "SELECT seq, at, v, body, coalesce(node = $3, true) FROM events \
                         WHERE seq > $1 ORDER BY seq LIMIT $2",
                    )
                    .await
                    .map_err(pg)?;
                let mut after = 0i64;
                loop {
                    let rows = client
                        .query(&stmt, &[&after, &(REPLAY_BATCH as i64), &node])
                        .await
                        .map_err(pg)?;
                    let events = rows
                        .iter()
                        .map(|r| Ok((event_of(r)?, r.try_get(4).map_err(pg)?)))
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    let done = events.len() < REPLAY_BATCH;
                    if let Some((last, _)) = events.last() {
                        after = last.seq as i64;
                    }
                    if tx.send(Ok(events)).is_err() || done {
                        return Ok(());
                    }
                }
            };
            if let Err(e) = read.await {
                let _ = tx.send(Err(e));
            }
        });
        let mut count = 0;
        while let Ok(batch) = rx.recv() {
            for (event, mine) in batch? {
                f(event, mine);
                count += 1;
            }
        }
        Ok(count)
    }

    fn run_events(&mut self, run_id: &str) -> Result<Vec<Event>, StoreError> {
        let rows = self.query(
            "SELECT seq, at, v, body FROM events WHERE run_id = $1 ORDER BY seq".into(),
            vec![Box::new(run_id.to_string())],
        )?;
        rows.iter().map(event_of).collect()
    }

    fn event(&mut self, seq: u64) -> Result<Option<Event>, StoreError> {
        let rows = self.query(
            "SELECT seq, at, v, body FROM events WHERE seq = $1".into(),
            vec![Box::new(seq as i64)],
        )?;
        rows.first().map(event_of).transpose()
    }

    /// Each server writes the rows of its own events, so the index is
    /// complete up to where the one furthest behind has written them.
    fn indexed_through(&mut self) -> Result<u64, StoreError> {
        let rows = self.query(
            "SELECT coalesce(min(through), 0) FROM index_progress".into(),
            vec![],
        )?;
        let through: i64 = rows
            .first()
            .ok_or_else(|| StoreError("min() without a row".into()))?
            .try_get(0)
            .map_err(pg)?;
        Ok(through as u64)
    }

    fn write_index(&mut self, rows: &[&IndexRow], through: u64) -> Result<(), StoreError> {
        let batch = IndexBatch::of(rows);
        let node = self.node.to_string();
        self.call(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            batch.write(&tx).await?;
            tx.execute(
                "INSERT INTO index_progress (node, through) VALUES ($1, $2) \
                 ON CONFLICT (node) DO UPDATE \
                 SET through = greatest(index_progress.through, EXCLUDED.through)",
                &[&node, &(through as i64)],
            )
            .await
            .map_err(pg)?;
            tx.commit().await.map_err(pg)
        })
    }

    fn index_complete(&mut self, through: u64) -> Result<(), StoreError> {
        // This server's row first: from now on its events count in the
        // minimum, even those whose rows a crash leaves unwritten.
        self.write_index(&[], through)?;
        self.call(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            client
                .execute(
                    "UPDATE index_progress SET through = greatest(through, $1)",
                    &[&(through as i64)],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    fn runs(&mut self, q: &RunQuery) -> Result<Vec<RunRecord>, StoreError> {
        let (conditions, mut params) = run_conditions(q);
        params.push(Box::new(q.limit.min(i64::MAX as usize) as i64));
        let sql = format!(
            "SELECT run_id, job_id, workflow_id, job_name, status, created_at, completed_at, \
             duration_secs, steps_total, steps_done FROM run_index WHERE {conditions} \
             ORDER BY run_id DESC LIMIT ${}",
            params.len()
        );
        self.query(sql, params)?.iter().map(run_record).collect()
    }

    fn count_runs(&mut self, q: &RunQuery) -> Result<u64, StoreError> {
        let (conditions, params) = run_conditions(q);
        let sql = format!("SELECT count(*) FROM run_index WHERE {conditions}");
        let rows = self.query(sql, params)?;
        let n: i64 = rows
            .first()
            .ok_or_else(|| StoreError("count(*) without a row".into()))?
            .try_get(0)
            .map_err(pg)?;
        Ok(n as u64)
    }

    fn job(&mut self, job_id: Ulid) -> Result<Option<JobRecord>, StoreError> {
        let rows = self.query(
            "SELECT job_id, name, workflow_id, description, created_at, seq \
             FROM job_index WHERE job_id = $1"
                .into(),
            vec![Box::new(job_id.to_bytes().to_vec())],
        )?;
        rows.first().map(job_record).transpose()
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
        let rows = self.query(
            "SELECT job_id, count(*), max(run_id) FROM run_index \
             WHERE job_id = ANY($1) AND run_id < $2 AND run_id <> ALL($3) GROUP BY job_id"
                .into(),
            vec![
                Box::new(ids(jobs)),
                Box::new(below.to_bytes().to_vec()),
                Box::new(ids(except)),
            ],
        )?;
        rows.iter()
            .map(|r| {
                let job: &[u8] = r.try_get(0).map_err(pg)?;
                let n: i64 = r.try_get(1).map_err(pg)?;
                let last: &[u8] = r.try_get(2).map_err(pg)?;
                Ok((ulid_from(job)?, n as u64, ulid_from(last)?))
            })
            .collect()
    }

    fn approval_run(&mut self, approval_id: Ulid) -> Result<Option<Ulid>, StoreError> {
        let rows = self.query(
            "SELECT run_id FROM approval_index WHERE approval_id = $1".into(),
            vec![Box::new(approval_id.to_bytes().to_vec())],
        )?;
        rows.first()
            .map(|r| ulid_from(r.try_get(0).map_err(pg)?))
            .transpose()
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
        let (sql, params): (String, Vec<Param>) = match workflow_id {
            Some(w) => (
                format!(
                    "{select} WHERE workflow_id = $1 AND job_id < $2 ORDER BY job_id DESC LIMIT $3"
                ),
                vec![Box::new(w.to_string()), Box::new(below), Box::new(limit)],
            ),
            None => (
                format!("{select} WHERE job_id < $1 ORDER BY job_id DESC LIMIT $2"),
                vec![Box::new(below), Box::new(limit)],
            ),
        };
        self.query(sql, params)?.iter().map(job_record).collect()
    }
}

fn ids(ids: &[Ulid]) -> Vec<Vec<u8>> {
    ids.iter().map(|id| id.to_bytes().to_vec()).collect()
}

/// Index rows as columns, one statement per table. A run's row may come
/// several times in one batch (each change makes one); an upsert may touch
/// a row once per statement, so the last of each wins here, as it would
/// row by row.
#[derive(Default)]
struct IndexBatch {
    runs: RunColumns,
    jobs: JobColumns,
    approvals: (Vec<Vec<u8>>, Vec<Vec<u8>>),
}

#[derive(Default)]
struct RunColumns {
    run_id: Vec<Vec<u8>>,
    job_id: Vec<Vec<u8>>,
    workflow_id: Vec<String>,
    job_name: Vec<String>,
    status: Vec<&'static str>,
    created_at: Vec<i64>,
    completed_at: Vec<Option<i64>>,
    duration_secs: Vec<Option<f64>>,
    steps_total: Vec<i32>,
    steps_done: Vec<i32>,
}

#[derive(Default)]
struct JobColumns {
    job_id: Vec<Vec<u8>>,
    name: Vec<String>,
    workflow_id: Vec<String>,
    description: Vec<Option<String>>,
    created_at: Vec<i64>,
    seq: Vec<i64>,
}

impl IndexBatch {
    fn of(rows: &[&IndexRow]) -> IndexBatch {
        use std::collections::HashMap;
        let mut last: HashMap<(u8, Ulid), usize> = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let key = match row {
                IndexRow::Run(r) => (0, r.run_id),
                IndexRow::Job(j) => (1, j.job_id),
                IndexRow::Approval(a) => (2, a.approval_id),
            };
            last.insert(key, i);
        }
        let mut keep: Vec<usize> = last.into_values().collect();
        keep.sort_unstable();
        let mut batch = IndexBatch::default();
        for i in keep {
            match rows[i] {
                IndexRow::Run(r) => {
                    let c = &mut batch.runs;
                    c.run_id.push(r.run_id.to_bytes().to_vec());
                    c.job_id.push(r.job_id.to_bytes().to_vec());
                    c.workflow_id.push(r.workflow_id.to_string());
                    c.job_name.push(r.job_name.to_string());
                    c.status.push(status_code(r.status));
                    c.created_at.push(micros(r.created_at));
                    c.completed_at.push(r.completed_at.map(micros));
                    c.duration_secs.push(r.duration_secs);
                    c.steps_total.push(r.steps_total as i32);
                    c.steps_done.push(r.steps_done as i32);
                }
                IndexRow::Job(j) => {
                    let c = &mut batch.jobs;
                    c.job_id.push(j.job_id.to_bytes().to_vec());
                    c.name.push(j.name.to_string());
                    c.workflow_id.push(j.workflow_id.to_string());
                    c.description.push(j.description.clone());
                    c.created_at.push(micros(j.created_at));
                    c.seq.push(j.seq as i64);
                }
                IndexRow::Approval(a) => {
                    batch.approvals.0.push(a.approval_id.to_bytes().to_vec());
                    batch.approvals.1.push(a.run_id.to_bytes().to_vec());
                }
            }
        }
        batch
    }

    async fn write(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<(), StoreError> {
        let r = &self.runs;
        if !r.run_id.is_empty() {
            tx.execute(
                "INSERT INTO run_index (run_id, job_id, workflow_id, job_name, status, created_at, \
                     completed_at, duration_secs, steps_total, steps_done) \
                 SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
                     $6::BIGINT[], $7::BIGINT[], $8::DOUBLE PRECISION[], $9::INTEGER[], $10::INTEGER[]) \
                 ON CONFLICT (run_id) DO UPDATE SET job_id = EXCLUDED.job_id, \
                     workflow_id = EXCLUDED.workflow_id, job_name = EXCLUDED.job_name, \
                     status = EXCLUDED.status, created_at = EXCLUDED.created_at, \
                     completed_at = EXCLUDED.completed_at, duration_secs = EXCLUDED.duration_secs, \
                     steps_total = EXCLUDED.steps_total, steps_done = EXCLUDED.steps_done",
                &[
                    &r.run_id,
                    &r.job_id,
                    &r.workflow_id,
                    &r.job_name,
                    &r.status,
                    &r.created_at,
                    &r.completed_at,
                    &r.duration_secs,
                    &r.steps_total,
                    &r.steps_done,
                ],
            )
            .await
            .map_err(pg)?;
        }
        let j = &self.jobs;
        if !j.job_id.is_empty() {
            tx.execute(
                "INSERT INTO job_index (job_id, name, workflow_id, description, created_at, seq) \
                 SELECT * FROM UNNEST($1::BYTEA[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                     $5::BIGINT[], $6::BIGINT[]) \
                 ON CONFLICT (job_id) DO UPDATE SET name = EXCLUDED.name, \
                     workflow_id = EXCLUDED.workflow_id, description = EXCLUDED.description, \
                     created_at = EXCLUDED.created_at, seq = EXCLUDED.seq",
                &[
                    &j.job_id,
                    &j.name,
                    &j.workflow_id,
                    &j.description,
                    &j.created_at,
                    &j.seq,
                ],
            )
            .await
            .map_err(pg)?;
        }
        let (approval, run) = &self.approvals;
        if !approval.is_empty() {
            tx.execute(
                "INSERT INTO approval_index (approval_id, run_id) \
                 SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[]) \
                 ON CONFLICT (approval_id) DO UPDATE SET run_id = EXCLUDED.run_id",
                &[approval, run],
            )
            .await
            .map_err(pg)?;
        }
        Ok(())
    }
}

/// The `WHERE` clause of a run query and its parameters, in order.
fn run_conditions(q: &RunQuery) -> (String, Vec<Param>) {
    let mut params: Vec<Param> = vec![Box::new(q.below.to_bytes().to_vec())];
    let mut conditions = vec!["run_id < $1".to_string()];
    let mut add = |sql: &str, p: Param| {
        params.push(p);
        conditions.push(sql.replace('?', &format!("${}", params.len())));
    };
    if let Some(status) = q.filter.status {
        add("status = ?", Box::new(status_code(status)));
    }
    if let Some(w) = &q.filter.workflow_id {
        add("workflow_id = ?", Box::new(w.clone()));
    }
    if let Some(j) = q.filter.job_id {
        add("job_id = ?", Box::new(j.to_bytes().to_vec()));
    }
    if let Some(until) = q.filter.active_until {
        add("created_at < ?", Box::new(micros(until)));
    }
    if let Some(since) = q.filter.active_since {
        add(
            "(completed_at IS NULL OR completed_at >= ?)",
            Box::new(micros(since)),
        );
    }
    if !q.except.is_empty() {
        add("run_id <> ALL(?)", Box::new(ids(&q.except)));
    }
    (conditions.join(" AND "), params)
}

fn run_record(row: &Row) -> Result<RunRecord, StoreError> {
    let run_id: &[u8] = row.try_get(0).map_err(pg)?;
    let job_id: &[u8] = row.try_get(1).map_err(pg)?;
    let workflow_id: &str = row.try_get(2).map_err(pg)?;
    let job_name: &str = row.try_get(3).map_err(pg)?;
    let status: &str = row.try_get(4).map_err(pg)?;
    let created_at: i64 = row.try_get(5).map_err(pg)?;
    let completed_at: Option<i64> = row.try_get(6).map_err(pg)?;
    let steps_total: i32 = row.try_get(8).map_err(pg)?;
    let steps_done: i32 = row.try_get(9).map_err(pg)?;
    Ok(RunRecord {
        run_id: ulid_from(run_id)?,
        job_id: ulid_from(job_id)?,
        workflow_id: workflow_id.into(),
        job_name: job_name.into(),
        status: status_from_code(status)
            .ok_or_else(|| StoreError(format!("unknown status {status:?} in the index")))?,
        created_at: from_micros(created_at)?,
        completed_at: completed_at.map(from_micros).transpose()?,
        duration_secs: row.try_get(7).map_err(pg)?,
        steps_total: steps_total as u32,
        steps_done: steps_done as u32,
    })
}

fn job_record(row: &Row) -> Result<JobRecord, StoreError> {
    let job_id: &[u8] = row.try_get(0).map_err(pg)?;
    let name: &str = row.try_get(1).map_err(pg)?;
    let workflow_id: &str = row.try_get(2).map_err(pg)?;
    let created_at: i64 = row.try_get(4).map_err(pg)?;
    let seq: i64 = row.try_get(5).map_err(pg)?;
    Ok(JobRecord {
        job_id: ulid_from(job_id)?,
        name: name.into(),
        workflow_id: workflow_id.into(),
        description: row.try_get(3).map_err(pg)?,
        created_at: from_micros(created_at)?,
        seq: seq as u64,
    })
}
