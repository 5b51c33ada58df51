//! The one path of every event: sequenced, folded into the in-memory model,
//! queued for the durable log, and broadcast to live subscribers, in that
//! order and under one lock, so every observer sees the same history.

use std::path::Path;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use ulid::Ulid;

use crate::events::{Event, EventKind, SharedEvent};
use crate::model::Model;
use crate::runs::RunState;
use crate::store::{Durability, EventLog, LogWriter, SqliteLog, StoreError};

/// Events buffered per live subscriber before it is told it lagged.
const LIVE_BUFFER: usize = 8_192;

/// Something derived from events beside the model (metrics, analytics).
/// Called under the journal's lock, after the model has applied the event,
/// live and during replay alike: keep it quick and non-blocking.
pub trait Observer: Send + Sync + 'static {
    fn observe(&self, event: &Event, model: &Model);
}

struct Inner {
    next_seq: u64,
    model: Model,
}

pub struct Journal {
    inner: Mutex<Inner>,
    observers: Vec<Arc<dyn Observer>>,
    live: broadcast::Sender<SharedEvent>,
    writer: LogWriter,
    /// Reads of old runs; used only on blocking threads, never under `inner`.
    reader: Arc<Mutex<Box<dyn EventLog>>>,
}

/// What start-up found in the log.
#[derive(Debug, Default)]
pub struct Replayed {
    pub events: u64,
    pub interrupted_runs: Vec<Ulid>,
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

    pub fn open(
        mut log: Box<dyn EventLog>,
        reader: Box<dyn EventLog>,
        mut model: Model,
        observers: Vec<Arc<dyn Observer>>,
    ) -> Result<(Self, Replayed), StoreError> {
        let started = std::time::Instant::now();
        let mut last_seq = 0;
        let mut last_at = None;
        let events = log.replay(&mut |event| {
            last_seq = event.seq;
            last_at = Some(event.at);
            model.apply(&event);
            for o in &observers {
                o.observe(&event, &model);
            }
        })?;
        // Runs the previous process left in flight, with what they owe: a
        // run whose cancel was committed ends cancelled, the others
        // interrupted, as of the last thing that process wrote (it was
        // killed, or it would have ended them itself).
        let in_flight: Vec<EventKind> = model
            .runs
            .in_flight()
            .map(|r| r.ending(last_at.unwrap_or_else(Utc::now), last_at.is_some()))
            .collect();
        let journal = Self {
            inner: Mutex::new(Inner {
                next_seq: last_seq + 1,
                model,
            }),
            observers,
            live: broadcast::channel(LIVE_BUFFER).0,
            writer: LogWriter::spawn(log, last_seq),
            reader: Arc::new(Mutex::new(reader)),
        };
        let interrupted_runs = in_flight.iter().filter_map(EventKind::run_id).collect();
        for ending in in_flight {
            journal.publish(ending);
        }
        let replayed = Replayed {
            events,
            interrupted_runs,
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
        self.writer.append(event.clone());
        // No receiver is fine; a lagging one is told so by the channel.
        let _ = self.live.send(event.clone());
        event
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

    pub fn subscribe(&self) -> broadcast::Receiver<SharedEvent> {
        self.live.subscribe()
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
                        if m.runs.exists(id) {
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
        let reader = self.reader.clone();
        let ids: Vec<Ulid> = on_disk.iter().map(|(_, id)| *id).collect();
        let folded = tokio::task::spawn_blocking(move || {
            let mut reader = reader.lock();
            ids.iter()
                .map(|id| Ok(RunState::fold(&reader.run_events(&id.to_string())?)))
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await
        .map_err(|e| StoreError(format!("reading runs back: {e}")))??;
        for ((i, _), run) in on_disk.into_iter().zip(folded) {
            out[i] = run;
        }
        Ok(out)
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
