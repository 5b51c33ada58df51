use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::{oneshot, watch};

use super::{EventLog, IndexRow, StoreError};
use crate::events::SharedEvent;

/// Most events written in one transaction.
const MAX_BATCH: usize = 8_192;

/// Index rows are written once this many are waiting, or the oldest has
/// waited `INDEX_DELAY`: well within what memory keeps of recent runs, jobs
/// and approvals (thousands), so nothing leaves memory before its row is
/// stored.
const INDEX_BATCH: usize = 500;
const INDEX_DELAY: Duration = Duration::from_millis(200);

/// The longest wait between two tries of a failing commit.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

enum Msg {
    /// An event and the index rows it made (one message: one wake-up of the
    /// writer, and the rows never arrive without their event).
    Event(SharedEvent, Vec<IndexRow>),
    /// Answered once every event sent before it is committed.
    Flush(oneshot::Sender<()>),
    /// The `seq` of an event another server wrote (and this one only
    /// folded): it counts as committed once every event before it is.
    Skip(u64),
}

/// The writer's queue. Events are put in under the journal's lock, so they
/// arrive in `seq` order, but the writer is woken only by [`Inbox::wake`],
/// which the journal calls once its lock is released: waking a thread can
/// hand it this CPU at once, and a journal lock held by a thread that has
/// lost its CPU stalls every publisher for a scheduler slice (5–6 ms
/// measured, the p99 of submit → `Completed`).
#[derive(Default)]
struct Inbox {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// The writer waits for messages (set and cleared under `queue`'s lock).
    asleep: AtomicBool,
}

#[derive(Default)]
struct Queue {
    msgs: VecDeque<Msg>,
    closed: bool,
}

impl Inbox {
    /// Queues `msg`, or gives it back once the writer is closed.
    fn put(&self, msg: Msg) -> Result<(), Msg> {
        let mut q = self.queue.lock();
        if q.closed {
            return Err(msg);
        }
        q.msgs.push_back(msg);
        Ok(())
    }

    /// Wakes the writer if it waits.
    fn wake(&self) {
        // A writer that went to sleep before a `put` was seen to, under the
        // lock that `put` took: no wake-up is lost.
        if self.asleep.load(Ordering::SeqCst) {
            self.ready.notify_one();
        }
    }

    fn close(&self) {
        self.queue.lock().closed = true;
        self.ready.notify_one();
    }

    /// Moves up to `max` messages into `out`, waiting for one first (at
    /// most `wait`, when given). False once closed and empty.
    fn take(&self, out: &mut Vec<Msg>, max: usize, wait: Option<Duration>) -> bool {
        let mut q = self.queue.lock();
        if q.msgs.is_empty() && !q.closed {
            self.asleep.store(true, Ordering::SeqCst);
            match wait {
                None => self.ready.wait(&mut q),
                Some(limit) => {
                    self.ready.wait_for(&mut q, limit);
                }
            }
            self.asleep.store(false, Ordering::SeqCst);
        }
        let n = q.msgs.len().min(max);
        out.extend(q.msgs.drain(..n));
        !q.closed || !q.msgs.is_empty()
    }
}

/// Counters of the writer, for metrics and admission control.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub appended: AtomicU64,
    pub batches: AtomicU64,
    /// Commits that failed (each retry counts).
    pub failures: AtomicU64,
}

/// Where the log stands, as the writer last saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogState {
    /// The `seq` of the last committed event (as this server numbers
    /// them: in the order it folded them).
    pub committed: u64,
    /// The `seq` the log gave the last event this server committed: the
    /// same as `committed` but in a log several servers share.
    pub stored: u64,
    /// Why the last commit failed, while commits fail.
    pub failing: Option<Arc<str>>,
}

/// A cheap handle on the log's state, for health: shared with observers
/// that cannot hold the writer.
#[derive(Clone)]
pub struct LogProbe {
    state: watch::Receiver<LogState>,
    backlog: Arc<AtomicUsize>,
    store: &'static str,
}

impl LogProbe {
    /// Waits until commits start or stop failing; false once the writer
    /// is gone.
    pub async fn failing_changed(&mut self) -> bool {
        let was = self.state.borrow_and_update().failing.is_some();
        self.state
            .wait_for(|s| s.failing.is_some() != was)
            .await
            .is_ok()
    }

    pub fn health(&self) -> wire::EventLogHealth {
        let failing = self.state.borrow().failing.clone();
        wire::EventLogHealth {
            status: if failing.is_some() { "failing" } else { "ok" }.into(),
            error: failing.map(|f| f.to_string()),
            backlog: self.backlog.load(Ordering::Relaxed) as u64,
            store: self.store.into(),
        }
    }
}

/// Hands events to a dedicated thread that appends them in batches: one
/// transaction holds whatever arrived while the previous one committed, so
/// many writers share each commit (group commit).
pub struct LogWriter {
    inbox: Arc<Inbox>,
    backlog: Arc<AtomicUsize>,
    pub stats: Arc<WriterStats>,
    state: watch::Receiver<LogState>,
    /// Set at shutdown when the disk will not take what is left.
    abandon: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    store: &'static str,
}

impl LogWriter {
    /// Starts the writer; `committed` is the `seq` already in the log.
    pub fn spawn(log: Box<dyn EventLog>, committed: u64) -> Self {
        let store = log.kind();
        let inbox = Arc::new(Inbox::default());
        let backlog = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(WriterStats::default());
        let (state_tx, state) = watch::channel(LogState {
            committed,
            stored: committed,
            failing: None,
        });
        let abandon = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("event-log-writer".into())
            .spawn({
                let writer = Writer {
                    log,
                    backlog: backlog.clone(),
                    stats: stats.clone(),
                    state: state_tx,
                    abandon: abandon.clone(),
                    rows: Vec::new(),
                    fresh: Vec::new(),
                    skipped: 0,
                    rows_since: None,
                };
                let inbox = inbox.clone();
                move || writer.run(&inbox)
            })
            .expect("spawn the event log writer");
        Self {
            inbox,
            backlog,
            stats,
            state,
            abandon,
            thread: Mutex::new(Some(thread)),
            store,
        }
    }

    /// Queues an event and wakes the writer; never blocks.
    pub fn append(&self, event: SharedEvent) {
        self.queue(event, Vec::new());
        self.wake();
    }

    /// Queues an event and its index rows, and wakes the writer.
    pub fn append_indexed(&self, event: SharedEvent, index: Vec<IndexRow>) {
        self.queue(event, index);
        self.wake();
    }

    /// Queues an event and the index rows it made (written after it),
    /// without waking the writer: [`wake`](Self::wake) does, once the
    /// caller's locks are released.
    pub fn queue(&self, event: SharedEvent, index: Vec<IndexRow>) {
        self.backlog.fetch_add(1, Ordering::Relaxed);
        if self.inbox.put(Msg::Event(event, index)).is_err() {
            self.backlog.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Notes an event another server wrote, folded here as `seq`, without
    /// waking the writer: a wait for it ends once what came before it here
    /// is committed.
    pub fn skip(&self, seq: u64) {
        let _ = self.inbox.put(Msg::Skip(seq));
    }

    /// Wakes the writer for what was queued.
    pub fn wake(&self) {
        self.inbox.wake();
    }

    /// Events queued but not yet committed.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    pub fn probe(&self) -> LogProbe {
        LogProbe {
            state: self.state.clone(),
            backlog: self.backlog.clone(),
            store: self.store,
        }
    }

    /// Why commits fail, while they do.
    pub fn failing(&self) -> Option<Arc<str>> {
        self.state.borrow().failing.clone()
    }

    /// The `seq` of the last committed event.
    pub fn committed(&self) -> u64 {
        self.state.borrow().committed
    }

    /// Waits until the event `seq` is committed; fails at once, with the
    /// cause, while commits are failing (the event stays queued, and is
    /// committed if the disk recovers; it was never acknowledged).
    pub async fn durable(&self, seq: u64) -> Result<(), StoreError> {
        let mut state = self.state.clone();
        let seen = state
            .wait_for(|s| s.committed >= seq || s.failing.is_some())
            .await
            .map_err(|_| StoreError("the log writer has stopped".into()))?;
        if seen.committed >= seq {
            return Ok(());
        }
        Err(StoreError(
            seen.failing
                .as_deref()
                .unwrap_or("commit failed")
                .to_string(),
        ))
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.inbox.put(Msg::Flush(done)).is_ok() {
            self.inbox.wake();
            let _ = wait.await;
        }
    }

    /// Stops retrying a failing commit: for a shutdown that cannot wait for
    /// the disk. What is still queued is dropped (and logged).
    pub fn abandon(&self) {
        self.abandon.store(true, Ordering::Relaxed);
    }

    /// Writes what is queued and stops the thread.
    pub fn close(&self) {
        self.inbox.close();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // Dropped without a shutdown (a panic unwinding, a test's end):
        // waiting for a log that fails could be forever.
        if self.failing().is_some() {
            self.abandon();
        }
        self.close();
    }
}

/// The writer thread's side.
struct Writer {
    log: Box<dyn EventLog>,
    backlog: Arc<AtomicUsize>,
    stats: Arc<WriterStats>,
    state: watch::Sender<LogState>,
    abandon: Arc<AtomicBool>,
    /// Index rows of committed events, not yet written.
    rows: Vec<IndexRow>,
    /// Index rows of the batch being committed.
    fresh: Vec<IndexRow>,
    /// The last `seq` of another server's event taken.
    skipped: u64,
    /// When the oldest of `rows` arrived.
    rows_since: Option<Instant>,
}

impl Writer {
    fn run(mut self, inbox: &Inbox) {
        let mut batch: Vec<SharedEvent> = Vec::with_capacity(MAX_BATCH);
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        let mut msgs = Vec::with_capacity(MAX_BATCH);
        let mut open = true;
        let idle_check = self.log.idle_check();
        let mut last_contact = Instant::now();
        while open {
            // With index rows waiting, wake up in time to write them; idle,
            // in time to check the store.
            let wait = [
                self.rows_since
                    .map(|since| INDEX_DELAY.saturating_sub(since.elapsed())),
                idle_check.map(|every| every.saturating_sub(last_contact.elapsed())),
            ]
            .into_iter()
            .flatten()
            .min();
            open = inbox.take(&mut msgs, MAX_BATCH, wait);
            if open
                && msgs.is_empty()
                && idle_check.is_some_and(|every| last_contact.elapsed() >= every)
            {
                if !self.persist(|log| log.ping()) {
                    return;
                }
                last_contact = Instant::now();
                continue;
            }
            last_contact = Instant::now();
            for msg in msgs.drain(..) {
                self.take(msg, &mut batch, &mut waiters);
            }
            if !self.commit(&batch) {
                tracing::error!(
                    events = self.backlog.load(Ordering::Relaxed),
                    "stopping with events the disk would not take; none of them was acknowledged"
                );
                return;
            }
            batch.clear();
            let due = !open
                || self.rows.len() >= INDEX_BATCH
                || self.rows_since.is_some_and(|t| t.elapsed() >= INDEX_DELAY);
            // A flush also waits for the index: a read after it finds there
            // what memory no longer holds.
            if (due || !waiters.is_empty()) && !self.write_index() {
                return;
            }
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
            self.log.between_commits();
        }
    }

    fn take(
        &mut self,
        msg: Msg,
        batch: &mut Vec<SharedEvent>,
        waiters: &mut Vec<oneshot::Sender<()>>,
    ) {
        match msg {
            Msg::Event(e, rows) => {
                batch.push(e);
                if !rows.is_empty() {
                    self.rows_since.get_or_insert_with(Instant::now);
                    self.fresh.extend(rows);
                }
            }
            Msg::Flush(w) => waiters.push(w),
            Msg::Skip(seq) => self.skipped = seq,
        }
    }

    /// Commits the batch's events (and counts those skipped before them).
    fn commit(&mut self, batch: &[SharedEvent]) -> bool {
        if batch.is_empty() {
            let skipped = self.skipped;
            if skipped > self.state.borrow().committed {
                self.state
                    .send_modify(|s| s.committed = s.committed.max(skipped));
            }
            return true;
        }
        let refs: Vec<_> = batch.iter().map(|e| &**e).collect();
        let mut first = 0;
        if !self.persist(|log| {
            first = log.append(&refs)?;
            Ok(())
        }) {
            return false;
        }
        // A job's row names its event by the `seq` the log gave it.
        for row in &mut self.fresh {
            if let IndexRow::Job(job) = row {
                if let Ok(i) = batch.binary_search_by_key(&job.seq, |e| e.seq) {
                    job.seq = first + i as u64;
                }
            }
        }
        self.rows.append(&mut self.fresh);
        let last = batch.last().map_or(0, |e| e.seq).max(self.skipped);
        let stored = first + batch.len() as u64 - 1;
        self.stats
            .appended
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.backlog.fetch_sub(batch.len(), Ordering::Relaxed);
        self.state.send_modify(|s| {
            s.committed = s.committed.max(last);
            s.stored = s.stored.max(stored);
        });
        true
    }

    /// Writes the index rows of the events committed so far, in a
    /// transaction of their own: the index is derived (a replay makes the
    /// rows again from `indexed_through` on), so it need not commit with
    /// its events, and a transaction per ~500 rows rewrites far fewer
    /// pages than one per commit.
    fn write_index(&mut self) -> bool {
        if self.rows_since.is_none() {
            return true;
        }
        let rows = std::mem::take(&mut self.rows);
        let refs: Vec<_> = rows.iter().collect();
        // Every row waiting belongs to a committed event.
        let through = self.state.borrow().stored;
        if !self.persist(|log| log.write_index(&refs, through)) {
            return false;
        }
        self.rows = rows;
        self.rows.clear();
        self.rows_since = None;
        true
    }

    /// Runs a write, retrying with backoff until it lands (a failed commit
    /// is never dropped: the projections rebuilt from the log would disagree
    /// with what happened) or the writer is told to give up.
    fn persist(
        &mut self,
        mut write: impl FnMut(&mut dyn EventLog) -> Result<(), StoreError>,
    ) -> bool {
        let mut delay = Duration::from_millis(10);
        loop {
            match write(&mut *self.log) {
                Ok(()) => break,
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    let cause: Arc<str> = e.to_string().into();
                    if self.state.borrow().failing.as_deref() != Some(&*cause) {
                        tracing::error!("{cause}; retrying until the log takes it");
                    }
                    self.state.send_modify(|s| s.failing = Some(cause));
                    if !self.pause(delay) {
                        return false;
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
        if self.state.borrow().failing.is_some() {
            tracing::info!("the event log is written again");
            self.state.send_modify(|s| s.failing = None);
        }
        true
    }

    /// Sleeps `delay` in short slices; false once told to give up.
    fn pause(&self, delay: Duration) -> bool {
        let slice = Duration::from_millis(50);
        let mut left = delay;
        while !left.is_zero() {
            if self.abandon.load(Ordering::Relaxed) {
                return false;
            }
            let step = left.min(slice);
            std::thread::sleep(step);
            left -= step;
        }
        !self.abandon.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventKind};
    use crate::store::StoreError;
    use chrono::Utc;

    #[tokio::test]
    async fn failed_commits_are_retried_and_flush_waits_for_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter::spawn(
            Box::new(Disk {
                fail: 2,
                full: Default::default(),
                seen: seen.clone(),
            }),
            0,
        );
        for seq in 1..=100 {
            writer.append(Arc::new(Event {
                seq,
                at: Utc::now(),
                kind: EventKind::RunStarted {
                    run_id: ulid::Ulid::new(),
                },
            }));
        }
        writer.flush().await;
        assert_eq!(*seen.lock(), (1..=100).collect::<Vec<_>>());
        assert_eq!(writer.backlog(), 0);
        assert_eq!(writer.stats.failures.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn index_rows_wait_for_a_batch_of_their_own_and_a_flush_writes_them() {
        let log = crate::store::MemoryLog::default();
        let writer = LogWriter::spawn(Box::new(log.clone()), 0);
        let row = |i: u64| {
            IndexRow::Run(crate::store::RunRecord {
                run_id: ulid::Ulid::from_parts(i, 0),
                job_id: ulid::Ulid::from_parts(i, 1),
                workflow_id: "w".into(),
                job_name: "j".into(),
                status: wire::RunStatus::Completed,
                created_at: Utc::now(),
                completed_at: None,
                duration_secs: None,
                steps_total: 1,
                steps_done: 1,
            })
        };
        let indexed = || {
            let mut log = log.clone();
            let through = log.indexed_through().unwrap();
            let q = crate::store::RunQuery {
                filter: Default::default(),
                below: ulid::Ulid(u128::MAX),
                except: Vec::new(),
                limit: usize::MAX,
            };
            (through, log.runs(&q).unwrap().len())
        };
        writer.append_indexed(event(1), vec![row(1)]);
        writer.durable(1).await.unwrap();
        // The event is committed (acknowledged); its row waits, and the
        // index does not claim to cover it.
        assert_eq!(indexed(), (0, 0));
        writer.append_indexed(event(2), vec![row(2)]);
        writer.append(event(3));
        writer.flush().await;
        assert_eq!(indexed(), (3, 2));
        // Left alone, rows are written after INDEX_DELAY.
        writer.append_indexed(event(4), vec![row(4)]);
        writer.durable(4).await.unwrap();
        tokio::time::sleep(INDEX_DELAY * 3).await;
        assert_eq!(indexed(), (4, 3));
        // And a batch's worth goes at once.
        for seq in 5..5 + INDEX_BATCH as u64 {
            writer.append_indexed(event(seq), vec![row(seq)]);
        }
        let last = 4 + INDEX_BATCH as u64;
        writer.durable(last).await.unwrap();
        // (The write follows the commit on the same thread: give it a moment.)
        for _ in 0..100 {
            if indexed().1 == 3 + INDEX_BATCH {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(indexed(), (last, 3 + INDEX_BATCH));
        writer.close();
    }

    fn event(seq: u64) -> SharedEvent {
        Arc::new(Event {
            seq,
            at: Utc::now(),
            kind: EventKind::RunStarted {
                run_id: ulid::Ulid::new(),
            },
        })
    }

    /// A log in memory whose "disk" fails its first `fail` commits, and
    /// every commit while `full` is set.
    struct Disk {
        fail: usize,
        full: Arc<AtomicBool>,
        seen: Arc<Mutex<Vec<u64>>>,
    }

    impl EventLog for Disk {
        fn kind(&self) -> &'static str {
            "test disk"
        }

        fn append(&mut self, events: &[&crate::events::Event]) -> Result<u64, StoreError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(StoreError("disk on fire".into()));
            }
            if self.full.load(Ordering::Relaxed) {
                return Err(StoreError("database or disk is full".into()));
            }
            self.seen.lock().extend(events.iter().map(|e| e.seq));
            Ok(events.first().map_or(0, |e| e.seq))
        }
        fn replay(&mut self, _: &mut dyn FnMut(Event)) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn run_events(&mut self, _: &str) -> Result<Vec<Event>, StoreError> {
            Ok(Vec::new())
        }
        fn event(&mut self, _: u64) -> Result<Option<Event>, StoreError> {
            Ok(None)
        }
        fn indexed_through(&mut self) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn write_index(&mut self, _: &[&IndexRow], _: u64) -> Result<(), StoreError> {
            Ok(())
        }
        fn runs(
            &mut self,
            _: &crate::store::RunQuery,
        ) -> Result<Vec<crate::store::RunRecord>, StoreError> {
            Ok(Vec::new())
        }
        fn count_runs(&mut self, _: &crate::store::RunQuery) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn job(&mut self, _: ulid::Ulid) -> Result<Option<crate::store::JobRecord>, StoreError> {
            Ok(None)
        }
        fn job_runs(
            &mut self,
            _: &[ulid::Ulid],
            _: ulid::Ulid,
            _: &[ulid::Ulid],
        ) -> Result<Vec<(ulid::Ulid, u64, ulid::Ulid)>, StoreError> {
            Ok(Vec::new())
        }
        fn approval_run(&mut self, _: ulid::Ulid) -> Result<Option<ulid::Ulid>, StoreError> {
            Ok(None)
        }
        fn jobs(
            &mut self,
            _: Option<&str>,
            _: ulid::Ulid,
            _: usize,
        ) -> Result<Vec<crate::store::JobRecord>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn durable_waits_for_the_commit_and_says_why_when_it_cannot() {
        let full = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter::spawn(
            Box::new(Disk {
                fail: 0,
                full: full.clone(),
                seen: seen.clone(),
            }),
            10,
        );
        // Already in the log at start-up.
        writer.durable(10).await.unwrap();
        writer.append(event(11));
        writer.durable(11).await.unwrap();
        assert_eq!(*seen.lock(), vec![11]);
        // The disk fills: a wait fails with the cause, nothing is lost.
        full.store(true, Ordering::Relaxed);
        writer.append(event(12));
        let e = writer.durable(12).await.unwrap_err();
        assert!(e.0.contains("disk is full"), "{e}");
        assert!(writer.failing().is_some());
        assert_eq!(writer.backlog(), 1);
        // It recovers by itself when the disk does.
        full.store(false, Ordering::Relaxed);
        writer.flush().await;
        writer.durable(12).await.unwrap();
        assert_eq!(writer.failing(), None);
        assert_eq!(*seen.lock(), vec![11, 12]);
        assert!(writer.stats.failures.load(Ordering::Relaxed) >= 1);
    }

    #[tokio::test]
    async fn a_writer_told_to_give_up_stops_retrying() {
        let full = Arc::new(AtomicBool::new(true));
        let writer = LogWriter::spawn(
            Box::new(Disk {
                fail: 0,
                full,
                seen: Default::default(),
            }),
            0,
        );
        writer.append(event(1));
        assert!(writer.durable(1).await.is_err());
        writer.abandon();
        let closed = tokio::task::spawn_blocking(move || writer.close());
        tokio::time::timeout(std::time::Duration::from_secs(2), closed)
            .await
            .expect("the writer stops within a retry slice")
            .unwrap();
    }
}
