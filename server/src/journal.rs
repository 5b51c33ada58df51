//! The one path of every event: sequenced, folded into the in-memory model,
//! queued for the durable log, and broadcast to live subscribers, in that
//! order and under one lock, so every observer sees the same history.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use ulid::Ulid;

use crate::events::{Event, EventKind, SharedEvent};
use crate::model::Model;
use crate::runs::RunState;
use crate::store::{
    Durability, EventLog, IndexRow, LogWriter, PostgresLog, RunFilter, RunRecord, SqliteLog,
    StoreError,
};

/// Events buffered per live subscriber before it is told it lagged.
const LIVE_BUFFER: usize = 8_192;

/// Index rows written per transaction while a replay fills the index.
const BACKFILL_BATCH: usize = 10_000;

/// How often a server that follows a shared log reads it without being
/// woken: what a lost notification costs at most.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Events read per query while following.
const FOLLOW_BATCH: usize = 2_048;

/// How often a server that does not lead the cluster tries to.
const LEAD_RETRY: Duration = Duration::from_secs(1);

/// Something derived from events beside the model (metrics, analytics).
/// Called under the journal's lock, after the model has applied the event,
/// live and during replay alike: keep it quick and non-blocking.
pub trait Observer: Send + Sync + 'static {
    /// An event this server wrote.
    fn observe(&self, event: &Event, model: &Model);

    /// An event another server of the cluster wrote, folded here too:
    /// what shows the cluster (live updates) wants it; what counts or
    /// sends this server's own work (its counters, webhooks, traces) must
    /// not, or the cluster would count and send it once per server.
    fn observe_foreign(&self, _event: &Event, _model: &Model) {}

    /// Called after the lock is released, for what must not happen under
    /// it: waking other threads or tasks (see [`Journal::publish`]).
    fn unlocked(&self) {}
}

struct Inner {
    next_seq: u64,
    /// In a shared log: the log's `seq` through which this server has
    /// folded every event (its own, and others' it read).
    followed: u64,
    model: Model,
    /// Live subscribers, each with the kinds of event it wants.
    feeds: Vec<Feed>,
}

impl Inner {
    /// Sends `event` to the live subscribers that want it.
    fn tell(&mut self, event: &SharedEvent) {
        let mut gone = false;
        for feed in &self.feeds {
            if (feed.wants)(&event.kind) {
                // A lagging receiver is told so by the channel.
                gone |= feed.tx.send(event.clone()).is_err();
            }
        }
        if gone {
            self.feeds.retain(|f| f.tx.receiver_count() > 0);
        }
    }
}

/// A live subscriber is sent only the events it wants, so that one watching
/// for alert changes is not woken for every step of every run.
struct Feed {
    wants: fn(&EventKind) -> bool,
    tx: broadcast::Sender<SharedEvent>,
}

pub struct Journal {
    inner: Mutex<Inner>,
    observers: Vec<Arc<dyn Observer>>,
    writer: LogWriter,
    /// Reads of old runs; used only on blocking threads, never under `inner`.
    reader: Arc<Mutex<Box<dyn EventLog>>>,
    /// The log other servers write too, when it is shared.
    shared: Option<PostgresLog>,
    /// Whether this server leads (alerts, routines): always, alone.
    leads: AtomicBool,
    /// Set once the server stops: others' events are no longer folded.
    closing: AtomicBool,
    /// Another node took this one's runs over while it was gone.
    taken_over: bool,
    /// Held while reading the shared log and folding what was read, so
    /// that a catch-up and the follower never fold the same events twice.
    following: Mutex<()>,
}

/// What start-up found in the log.
#[derive(Debug, Default)]
pub struct Replayed {
    pub events: u64,
    /// The time of the last event in the log: about when the previous
    /// process stopped (the runs it left in flight are picked up by
    /// `Engine::recover`).
    pub stopped_at: Option<DateTime<Utc>>,
    pub millis: u128,
}

impl Journal {
    /// Opens (or creates) the SQLite log at `path` and rebuilds the model from
    /// it, starting from `model` (empty, but configured).
    pub fn open_sqlite(
        path: &Path,
        durability: Durability,
        model: Model,
        observers: Vec<Arc<dyn Observer>>,
    ) -> Result<(Self, Replayed), StoreError> {
        let log = SqliteLog::open(path, durability)?;
        let reader = SqliteLog::open_reader(path)?;
        Self::open(Box::new(log), Box::new(reader), model, observers)
    }

    /// Connects to the PostgreSQL log at `url` (migrating its schema) and
    /// rebuilds the model from it.
    /// `node` names this server in the database's sessions.
    /// `lease_secs`: how long its lease lasts (see [`PostgresLog::join`]).
    pub fn open_postgres(
        url: &str,
        node: &str,
        lease_secs: u32,
        model: Model,
        observers: Vec<Arc<dyn Observer>>,
    ) -> Result<(Self, Replayed), StoreError> {
        let log = PostgresLog::connect_as(url, node)?;
        log.claim_node()?;
        let taken_by = log.join(lease_secs)?;
        if let Some(other) = &taken_by {
            tracing::warn!(
                "node {other} took this node's runs over while it was gone; they are not resumed here"
            );
        }
        let shared = log.clone();
        let (mut journal, replayed) =
            Self::open(Box::new(log.clone()), Box::new(log), model, observers)?;
        journal.leads = AtomicBool::new(shared.lead().unwrap_or(false));
        journal.shared = Some(shared);
        journal.taken_over = taken_by.is_some();
        Ok((journal, replayed))
    }

    pub fn open(
        mut log: Box<dyn EventLog>,
        reader: Box<dyn EventLog>,
        mut model: Model,
        observers: Vec<Arc<dyn Observer>>,
    ) -> Result<(Self, Replayed), StoreError> {
        let started = std::time::Instant::now();
        let mut last_seq = 0;
        let mut last_at = None;
        // The index rows the replay makes are in the store already, except
        // for the last events before a crash (the writer batches rows) and
        // for a log an older release wrote (from before the index): those
        // are written once the replay is done, in batches.
        let indexed_through = log.indexed_through()?;
        let mut rows = Vec::new();
        let mut backfill: Vec<IndexRow> = Vec::new();
        let events = log.replay_marked(&mut |event, mine| {
            last_seq = event.seq;
            last_at = Some(event.at);
            model.apply(&event);
            for o in &observers {
                if mine {
                    o.observe(&event, &model);
                } else {
                    o.observe_foreign(&event, &model);
                }
            }
            model.drain_index(&mut rows);
            if event.seq > indexed_through {
                backfill.append(&mut rows);
            } else {
                rows.clear();
            }
        })?;
        if last_seq > indexed_through {
            let rows: Vec<&IndexRow> = backfill.iter().collect();
            for chunk in rows.chunks(BACKFILL_BATCH) {
                log.write_index(chunk, indexed_through)?;
            }
            tracing::info!(
                rows = rows.len(),
                "brought the index of runs and jobs up to date with the log"
            );
        }
        // (In a shared log, also where this server's own rows start.)
        log.index_complete(last_seq)?;
        let journal = Self {
            inner: Mutex::new(Inner {
                next_seq: last_seq + 1,
                followed: last_seq,
                model,
                feeds: Vec::new(),
            }),
            observers,
            writer: LogWriter::spawn(log, last_seq),
            reader: Arc::new(Mutex::new(reader)),
            shared: None,
            leads: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            taken_over: false,
            following: Mutex::new(()),
        };
        let replayed = Replayed {
            events,
            stopped_at: last_at,
            millis: started.elapsed().as_millis(),
        };
        Ok((journal, replayed))
    }

    pub fn publish(&self, kind: EventKind) -> SharedEvent {
        let mut inner = self.inner.lock();
        let event = Arc::new(Event {
            seq: inner.next_seq,
            // The log keeps microseconds; so does the live event, so that a
            // replayed model equals the live one exactly.
            at: Utc::now().trunc_subsecs(6),
            kind,
        });
        inner.next_seq += 1;
        inner.model.apply(&event);
        for o in &self.observers {
            o.observe(&event, &inner.model);
        }
        let mut rows = Vec::new();
        inner.model.drain_index(&mut rows);
        self.writer.queue(event.clone(), rows);
        inner.tell(&event);
        drop(inner);
        // Wake-ups come after the lock: the woken thread may take this CPU
        // at once, and while the lock's holder waits for it back, so does
        // every other publisher (a scheduler slice, 5–6 ms measured).
        self.writer.wake();
        for o in &self.observers {
            o.unlocked();
        }
        event
    }

    /// Folds events other servers wrote to the shared log, in its order
    /// (numbered here after what this server has folded so far), and tells
    /// live subscribers. `through` is the log's `seq` they were read up to
    /// (this server's own events among them are folded already).
    fn ingest(&self, events: Vec<Event>, through: u64) {
        let mut inner = self.inner.lock();
        let mut rows = Vec::new();
        let mut last = None;
        for mut event in events {
            event.seq = inner.next_seq;
            inner.next_seq += 1;
            let event = Arc::new(event);
            inner.model.apply(&event);
            for o in &self.observers {
                o.observe_foreign(&event, &inner.model);
            }
            // Their index rows are their writer's to write.
            inner.model.drain_index(&mut rows);
            rows.clear();
            inner.tell(&event);
            last = Some(event.seq);
        }
        inner.followed = inner.followed.max(through);
        if let Some(seq) = last {
            // A wait for "everything so far" may end on one of these.
            self.writer.skip(seq);
        }
        drop(inner);
        self.writer.wake();
        for o in &self.observers {
            o.unlocked();
        }
    }

    /// Follows the shared log, if there is one: folds what the other
    /// servers write, woken by their notifications, polling besides; and
    /// takes the lead when it is free. Runs on a thread of its own until
    /// the journal closes or is dropped.
    pub fn follow(self: &Arc<Self>) {
        let Some(log) = self.shared.clone() else {
            return;
        };
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        log.notify_appends(wake);
        let journal: Weak<Self> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("log-follower".into())
            .spawn(move || follow(journal, log, woken))
            .expect("spawn the log follower");
    }

    /// Whether this server leads the cluster (alone: always): the leader
    /// evaluates alert rules and fires routines, once for the cluster.
    pub fn leads(&self) -> bool {
        self.leads.load(Ordering::Relaxed)
    }

    /// Stops folding others' events and gives up this server's place in
    /// the cluster (its node id, the lead): the server is stopping.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        if let Some(log) = &self.shared {
            log.release();
        }
    }

    /// The node id of this server, in a shared log.
    pub fn node(&self) -> Option<&str> {
        self.shared.as_ref().map(|l| l.node())
    }

    /// The log other servers write too, when it is shared.
    pub fn shared(&self) -> Option<&PostgresLog> {
        self.shared.as_ref()
    }

    /// Whether a run left in flight by the process before this one (run by
    /// `node`, `None` alone) is this server's to resume at start-up.
    pub fn resumes(&self, node: Option<&str>) -> bool {
        match (self.node(), node) {
            (None, _) | (Some(_), None) => !self.taken_over,
            (Some(me), Some(node)) => me == node && !self.taken_over,
        }
    }

    /// Folds what the shared log holds that this server has not folded yet
    /// (blocking: call it off the async workers). Errors only when the log
    /// cannot be read.
    pub fn catch_up(&self) -> Result<(), StoreError> {
        match &self.shared {
            Some(log) => self.follow_once(log),
            None => Ok(()),
        }
    }

    /// One round of following: reads and folds until the log's end.
    fn follow_once(&self, log: &PostgresLog) -> Result<(), StoreError> {
        let _one = self.following.lock();
        loop {
            let after = self.inner.lock().followed;
            let read = log.read_after(after, FOLLOW_BATCH)?;
            let Some(through) = read.last().map(|(e, _)| e.seq) else {
                return Ok(());
            };
            let full = read.len() == FOLLOW_BATCH;
            let theirs: Vec<Event> = read
                .into_iter()
                .filter(|(_, node)| node.as_deref() != Some(log.node()))
                .map(|(e, _)| e)
                .collect();
            self.ingest(theirs, through);
            if !full {
                return Ok(());
            }
        }
    }

    /// Reads the model under the lock; keep `f` short.
    pub fn read<R>(&self, f: impl FnOnce(&Model) -> R) -> R {
        f(&self.inner.lock().model)
    }

    /// Like [`read`](Self::read), with the `seq` of the last event the model
    /// has applied: what a snapshot taken in `f` reflects.
    pub fn read_at<R>(&self, f: impl FnOnce(&Model, u64) -> R) -> R {
        let inner = self.inner.lock();
        f(&inner.model, inner.next_seq - 1)
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SharedEvent> {
        self.subscribe_where(|_| true)
    }

    /// The events of the kinds `wants` picks, from now on.
    pub fn subscribe_where(
        &self,
        wants: fn(&EventKind) -> bool,
    ) -> broadcast::Receiver<SharedEvent> {
        let (tx, rx) = broadcast::channel(LIVE_BUFFER);
        self.inner.lock().feeds.push(Feed { wants, tx });
        rx
    }

    /// Any run's full state: from memory when recent, else rebuilt from the log.
    pub async fn load_run(&self, run_id: &Ulid) -> Result<Option<RunState>, StoreError> {
        Ok(self.load_runs(&[*run_id]).await?.pop().flatten())
    }

    /// Several runs' full states, in the order asked: those in memory at
    /// once, the others read back from the log in one go, on a blocking
    /// thread (SQLite reads must not stall the async workers).
    pub async fn load_runs(&self, run_ids: &[Ulid]) -> Result<Vec<Option<RunState>>, StoreError> {
        let mut out: Vec<Option<RunState>> = Vec::with_capacity(run_ids.len());
        let mut on_disk: Vec<(usize, Ulid)> = Vec::new();
        self.read(|m| {
            for (i, id) in run_ids.iter().enumerate() {
                match m.runs.get(id) {
                    Some(run) => out.push(Some(run.clone())),
                    None => {
                        out.push(None);
                        if m.runs.may_exist(id) {
                            on_disk.push((i, *id));
                        }
                    }
                }
            }
        });
        if on_disk.is_empty() {
            return Ok(out);
        }
        // What the model shows is at least queued: make sure it is readable.
        if self.writer.backlog() > 0 {
            self.flush().await;
        }
        let ids: Vec<Ulid> = on_disk.iter().map(|(_, id)| *id).collect();
        let folded = self
            .read_store(move |store| {
                ids.iter()
                    .map(|id| Ok(RunState::fold(&store.run_events(&id.to_string())?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        for ((i, _), run) in on_disk.into_iter().zip(folded) {
            out[i] = run;
        }
        Ok(out)
    }

    /// Reads the store on a blocking thread (never on an async worker, never
    /// under the model's lock).
    pub async fn read_store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn EventLog) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || f(&mut **reader.lock()))
            .await
            .map_err(|e| StoreError(format!("reading the log: {e}")))?
    }

    /// A page of the runs list, newest first, after `before`: the total of
    /// matching runs and the next page's cursor with it. Recent runs come
    /// from memory, older ones from the store's index.
    pub async fn runs_page(
        &self,
        filter: &RunFilter,
        before: Option<Ulid>,
        limit: usize,
    ) -> Result<(Vec<RunRecord>, u64, Option<Ulid>), StoreError> {
        let plan = self.read(|m| m.runs.plan_page(filter, before, limit));
        let (rows, count): (Vec<RunRecord>, u64) = match plan.index.clone() {
            None => (Vec::new(), 0),
            Some(q) => {
                let count = plan.count_index;
                self.read_store(move |store| {
                    let rows = if q.limit > 0 {
                        store.runs(&q)?
                    } else {
                        Vec::new()
                    };
                    let n = if count { store.count_runs(&q)? } else { 0 };
                    Ok((rows, n))
                })
                .await?
            }
        };
        Ok(self.read(|m| m.runs.finish_page(plan, rows, count)))
    }

    /// A job's definition, read back from its `JobCreated` event.
    pub async fn job_definition(
        &self,
        job: &crate::store::JobRecord,
    ) -> Result<
        (
            crate::events::Workflow,
            Option<crate::events::records::Budget>,
        ),
        StoreError,
    > {
        let (job_id, seq) = (job.job_id, job.seq);
        self.read_store(move |store| match store.event(seq)?.map(|e| e.kind) {
            Some(EventKind::JobCreated {
                workflow, budget, ..
            }) => Ok((workflow, budget)),
            _ => Err(StoreError(format!(
                "job {job_id}: its JobCreated event ({seq}) is not in the log"
            ))),
        })
        .await
    }

    /// A job only the store's index still holds.
    pub async fn indexed_job_record(
        &self,
        job_id: Ulid,
    ) -> Result<Option<crate::store::JobRecord>, StoreError> {
        if !self.read(|m| m.jobs.may_be_indexed(&job_id)) {
            return Ok(None);
        }
        self.read_store(move |store| store.job(job_id)).await
    }

    /// A job only the store's index still holds, with its definition.
    pub async fn indexed_job(
        &self,
        job_id: Ulid,
    ) -> Result<
        Option<(
            crate::store::JobRecord,
            crate::events::Workflow,
            Option<crate::events::records::Budget>,
        )>,
        StoreError,
    > {
        let Some(record) = self.indexed_job_record(job_id).await? else {
            return Ok(None);
        };
        let (workflow, budget) = self.job_definition(&record).await?;
        Ok(Some((record, workflow, budget)))
    }

    /// Waits until the event `seq` is committed: what an acknowledgement
    /// waits for. Fails at once, naming the cause, while the log cannot be
    /// written.
    pub async fn durable(&self, seq: u64) -> Result<(), StoreError> {
        self.writer.durable(seq).await
    }

    /// Why the log cannot be written, while it cannot.
    pub fn log_failing(&self) -> Option<std::sync::Arc<str>> {
        self.writer.failing()
    }

    /// Events queued for the log but not yet committed.
    pub fn log_backlog(&self) -> usize {
        self.writer.backlog()
    }

    pub fn writer(&self) -> &LogWriter {
        &self.writer
    }

    /// Waits until every event published so far is committed.
    pub async fn flush(&self) {
        self.writer.flush().await
    }
}

/// The follower's loop ([`Journal::follow`]).
fn follow(journal: Weak<Journal>, log: PostgresLog, woken: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut lead_checked = std::time::Instant::now();
    let mut failing = false;
    loop {
        match woken.recv_timeout(FOLLOW_POLL) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            // The listener stopped (its runtime is gone): poll on.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(FOLLOW_POLL),
        }
        let Some(journal) = journal.upgrade() else {
            return;
        };
        if journal.closing.load(Ordering::Relaxed) {
            return;
        }
        if !journal.leads() && lead_checked.elapsed() >= LEAD_RETRY {
            lead_checked = std::time::Instant::now();
            if log.lead().unwrap_or(false) {
                tracing::info!("this server leads the cluster now (alerts, routines)");
                journal.leads.store(true, Ordering::Relaxed);
            }
        } else if journal.leads() && !log.lead().unwrap_or(false) {
            tracing::warn!("this server no longer leads the cluster");
            journal.leads.store(false, Ordering::Relaxed);
        }
        match journal.follow_once(&log) {
            Ok(()) if failing => {
                tracing::info!("following the shared log again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!("cannot follow the shared log: {e}; retrying");
                    failing = true;
                }
            }
        }
    }
}
