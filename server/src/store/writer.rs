use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::EventLog;
use crate::events::SharedEvent;

/// Most events written in one transaction.
const MAX_BATCH: usize = 8_192;

enum Msg {
    Event(SharedEvent),
    /// Answered once every event sent before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Counters of the writer, for metrics and admission control.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub appended: AtomicU64,
    pub batches: AtomicU64,
    pub failures: AtomicU64,
}

/// Hands events to a dedicated thread that appends them in batches.
pub struct LogWriter {
    tx: Mutex<Option<Sender<Msg>>>,
    backlog: Arc<AtomicUsize>,
    pub stats: Arc<WriterStats>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LogWriter {
    pub fn spawn(log: Box<dyn EventLog>) -> Self {
        let (tx, rx) = mpsc::channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(WriterStats::default());
        let thread = std::thread::Builder::new()
            .name("event-log-writer".into())
            .spawn({
                let (backlog, stats) = (backlog.clone(), stats.clone());
                move || write_loop(log, rx, &backlog, &stats)
            })
            .expect("spawn the event log writer");
        Self {
            tx: Mutex::new(Some(tx)),
            backlog,
            stats,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues an event; never blocks.
    pub fn append(&self, event: SharedEvent) {
        if let Some(tx) = &*self.tx.lock() {
            self.backlog.fetch_add(1, Ordering::Relaxed);
            if tx.send(Msg::Event(event)).is_err() {
                self.backlog.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Events queued but not yet committed.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        let sent = match &*self.tx.lock() {
            Some(tx) => tx.send(Msg::Flush(done)).is_ok(),
            None => false,
        };
        if sent {
            let _ = wait.await;
        }
    }

    /// Writes what is queued and stops the thread.
    pub fn close(&self) {
        self.tx.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(
    mut log: Box<dyn EventLog>,
    rx: Receiver<Msg>,
    backlog: &AtomicUsize,
    stats: &WriterStats,
) {
    let mut batch: Vec<SharedEvent> = Vec::with_capacity(MAX_BATCH);
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Event(e) => batch.push(e),
                Msg::Flush(w) => waiters.push(w),
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let refs: Vec<_> = batch.iter().map(|e| &**e).collect();
            let mut delay = Duration::from_millis(10);
            // A failed commit is retried, never dropped: losing events would make
            // every projection rebuilt from the log disagree with what happened.
            while let Err(e) = log.append(&refs) {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!("{e}; retrying in {delay:?}");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            stats
                .appended
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            stats.batches.fetch_add(1, Ordering::Relaxed);
            backlog.fetch_sub(batch.len(), Ordering::Relaxed);
            batch.clear();
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventKind};
    use crate::store::StoreError;
    use chrono::Utc;

    /// A log that keeps events in memory and fails its first `fail` appends.
    struct Flaky {
        fail: usize,
        seen: Arc<Mutex<Vec<u64>>>,
    }

    impl EventLog for Flaky {
        fn append(&mut self, events: &[&crate::events::Event]) -> Result<(), StoreError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(StoreError("disk on fire".into()));
            }
            self.seen.lock().extend(events.iter().map(|e| e.seq));
            Ok(())
        }
        fn replay(&mut self, _: &mut dyn FnMut(Event)) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn run_events(&mut self, _: &str) -> Result<Vec<Event>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn failed_commits_are_retried_and_flush_waits_for_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter::spawn(Box::new(Flaky {
            fail: 2,
            seen: seen.clone(),
        }));
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
}
