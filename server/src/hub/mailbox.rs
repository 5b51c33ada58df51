//! Each connection's queue of pushed updates, and the routes that fill it.
//!
//! An update goes only to the connections that listen to its channel: one
//! following a single run is woken for that run's updates, not for every
//! run's. And an update nobody listens to is never built or serialised.
//! A queue is bounded: a connection that falls behind loses its oldest
//! updates and is told how many, so it never holds up the engine, other
//! connections or memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use ulid::Ulid;

use super::{Channel, Update};

/// Updates a connection may have waiting; beyond, the oldest are dropped.
pub const CAPACITY: usize = 4_096;

/// What one connection listens to, as the hub routes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Every run's updates.
    pub every_run: bool,
    /// These runs' updates (sorted, no repeats).
    pub runs: Vec<Ulid>,
    /// Health updates, and alert updates with them.
    pub health: bool,
    pub metrics: bool,
    pub alerts: bool,
}

impl Interest {
    pub fn add_run(&mut self, run_id: Ulid) {
        if let Err(at) = self.runs.binary_search(&run_id) {
            self.runs.insert(at, run_id);
        }
    }
}

/// Updates taken from a mailbox at once.
#[derive(Debug, Default)]
pub struct Batch {
    pub updates: Vec<Arc<Update>>,
    /// Updates dropped, oldest first, since the last batch.
    pub dropped: u64,
}

#[derive(Default)]
struct Queue {
    updates: VecDeque<Arc<Update>>,
    dropped: u64,
}

/// One connection's waiting updates.
#[derive(Default)]
pub struct Mailbox {
    queue: Mutex<Queue>,
    ready: Notify,
    /// What the routes hold it under; changed only with the routes locked.
    routed: Mutex<Interest>,
}

impl Mailbox {
    /// Queues `update`; true if the reader must be woken (see
    /// [`Routes::wake`]).
    fn push(&self, update: Arc<Update>) -> bool {
        let was_empty = {
            let mut q = self.queue.lock();
            if q.updates.len() >= CAPACITY {
                q.updates.pop_front();
                q.dropped += 1;
            }
            q.updates.push_back(update);
            q.updates.len() == 1
        };
        // A reader that left updates behind comes back without being told.
        was_empty
    }

    /// Takes up to `max` waiting updates, with the count of those dropped;
    /// `None` when there is nothing.
    pub fn try_take(&self, max: usize) -> Option<Batch> {
        let mut q = self.queue.lock();
        if q.updates.is_empty() && q.dropped == 0 {
            return None;
        }
        let n = q.updates.len().min(max);
        Some(Batch {
            updates: q.updates.drain(..n).collect(),
            dropped: std::mem::take(&mut q.dropped),
        })
    }

    /// Waits for updates and takes up to `max` of them. Cancel-safe: nothing
    /// is taken until it returns.
    pub async fn take(&self, max: usize) -> Batch {
        loop {
            if let Some(batch) = self.try_take(max) {
                return batch;
            }
            // A push after the look above leaves a permit: no wake-up is lost.
            self.ready.notified().await;
        }
    }
}

/// A list of mailboxes, shared as it was when read: changing it copies it,
/// so that finding who an update goes to copies no list.
type Boxes = Arc<[Arc<Mailbox>]>;

/// Which mailboxes listen to what. A mailbox is in at most one list per
/// channel, so nobody gets an update twice.
#[derive(Default)]
pub struct Routes {
    inner: RwLock<Table>,
    /// Mailboxes given updates since the last [`Routes::wake`].
    to_wake: Mutex<Vec<Arc<Mailbox>>>,
}

#[derive(Default)]
struct Table {
    every_run: Boxes,
    /// Mailboxes for one run, unless they listen to every run.
    runs: HashMap<Ulid, Boxes>,
    health: Boxes,
    metrics: Boxes,
    /// Mailboxes for alert updates that do not have them through `health`.
    alerts: Boxes,
}

/// `list` with `mailbox` added or taken out.
fn changed(list: &Boxes, mailbox: &Arc<Mailbox>, add: bool) -> Boxes {
    let others = list.iter().filter(|m| !Arc::ptr_eq(m, mailbox)).cloned();
    if add {
        others.chain([mailbox.clone()]).collect()
    } else {
        others.collect()
    }
}

impl Table {
    fn place(&mut self, mailbox: &Arc<Mailbox>, interest: &Interest, add: bool) {
        let list = |list: &mut Boxes, wanted: bool| {
            if wanted {
                *list = changed(list, mailbox, add);
            }
        };
        list(&mut self.every_run, interest.every_run);
        list(&mut self.health, interest.health);
        list(&mut self.metrics, interest.metrics);
        list(&mut self.alerts, interest.alerts && !interest.health);
        if interest.every_run {
            return;
        }
        for run_id in &interest.runs {
            let boxes = self.runs.entry(*run_id).or_default();
            *boxes = changed(boxes, mailbox, add);
            if boxes.is_empty() {
                self.runs.remove(run_id);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.every_run.is_empty()
            && self.runs.is_empty()
            && self.health.is_empty()
            && self.metrics.is_empty()
            && self.alerts.is_empty()
    }
}

impl Routes {
    /// Routes `mailbox` by `interest` from now on.
    pub fn set(&self, mailbox: &Arc<Mailbox>, interest: Interest) {
        let mut table = self.inner.write();
        let mut routed = mailbox.routed.lock();
        if *routed == interest {
            return;
        }
        table.place(mailbox, &routed, false);
        table.place(mailbox, &interest, true);
        *routed = interest;
    }

    /// Routes nothing more to `mailbox`.
    pub fn remove(&self, mailbox: &Arc<Mailbox>) {
        self.set(mailbox, Interest::default());
    }

    /// Whether anybody listens to anything (nothing is built otherwise).
    pub fn any(&self) -> bool {
        !self.inner.read().is_empty()
    }

    /// The mailboxes listening to `channel` now.
    pub fn recipients(&self, channel: Channel) -> Recipients<'_> {
        let table = self.inner.read();
        let some = |list: &Boxes| (!list.is_empty()).then(|| list.clone());
        let lists = match channel {
            Channel::Run(run_id) => [some(&table.every_run), table.runs.get(&run_id).cloned()],
            Channel::Health => [some(&table.health), None],
            Channel::Metrics => [some(&table.metrics), None],
            Channel::Alerts => [some(&table.health), some(&table.alerts)],
        };
        Recipients {
            lists,
            routes: self,
        }
    }

    /// Wakes the readers of the mailboxes updates went to. Apart from
    /// delivery, which happens under the journal's lock (it keeps the
    /// order): a woken task may be handed a CPU at once.
    pub fn wake(&self) {
        let woken = std::mem::take(&mut *self.to_wake.lock());
        for mailbox in woken {
            mailbox.ready.notify_one();
        }
    }
}

/// Who an update goes to (two disjoint lists); empty when nobody listens.
pub struct Recipients<'a> {
    lists: [Option<Boxes>; 2],
    routes: &'a Routes,
}

impl Recipients<'_> {
    pub fn is_empty(&self) -> bool {
        self.lists.iter().all(Option::is_none)
    }

    /// Queues `update` in each mailbox; their readers are woken by
    /// [`Routes::wake`].
    pub fn deliver(&self, update: Arc<Update>) {
        let mut woken = Vec::new();
        for mailbox in self.lists.iter().flatten().flat_map(|list| list.iter()) {
            if mailbox.push(update.clone()) {
                woken.push(mailbox.clone());
            }
        }
        if !woken.is_empty() {
            self.routes.to_wake.lock().append(&mut woken);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ServerMessage;

    fn update(seq: u64, channel: Channel) -> Arc<Update> {
        Update::new(seq, channel, ServerMessage::Pong)
    }

    fn seqs(batch: &Batch) -> Vec<u64> {
        batch.updates.iter().map(|u| u.seq).collect()
    }

    fn one_run(run_id: Ulid) -> Interest {
        Interest {
            runs: vec![run_id],
            ..Default::default()
        }
    }

    #[test]
    fn an_update_reaches_only_the_mailboxes_that_listen_to_its_channel() {
        let routes = Routes::default();
        let [one, other, all, health]: [Arc<Mailbox>; 4] = Default::default();
        let (a, b) = (Ulid::new(), Ulid::new());
        routes.set(&one, one_run(a));
        routes.set(&other, one_run(b));
        // Every run, and run `a` too: still one copy of each update.
        routes.set(
            &all,
            Interest {
                every_run: true,
                runs: vec![a],
                ..Default::default()
            },
        );
        routes.set(
            &health,
            Interest {
                health: true,
                alerts: true,
                ..Default::default()
            },
        );
        routes
            .recipients(Channel::Run(a))
            .deliver(update(1, Channel::Run(a)));
        routes
            .recipients(Channel::Run(b))
            .deliver(update(2, Channel::Run(b)));
        routes
            .recipients(Channel::Alerts)
            .deliver(update(3, Channel::Alerts));
        assert!(routes.recipients(Channel::Metrics).is_empty());
        assert_eq!(seqs(&one.try_take(10).unwrap()), [1]);
        assert_eq!(seqs(&other.try_take(10).unwrap()), [2]);
        assert_eq!(seqs(&all.try_take(10).unwrap()), [1, 2]);
        assert_eq!(seqs(&health.try_take(10).unwrap()), [3]);

        // Changing and dropping interest takes the old routes away.
        routes.set(&one, one_run(b));
        routes.remove(&all);
        routes.remove(&health);
        routes
            .recipients(Channel::Run(a))
            .deliver(update(4, Channel::Run(a)));
        routes
            .recipients(Channel::Run(b))
            .deliver(update(5, Channel::Run(b)));
        assert!(one.try_take(10).is_some_and(|b| seqs(&b) == [5]));
        assert!(all.try_take(10).is_none());
        routes.remove(&one);
        routes.remove(&other);
        assert!(!routes.any(), "no route is left behind");
    }

    #[test]
    fn a_full_mailbox_drops_its_oldest_updates_and_says_how_many() {
        let mailbox = Mailbox::default();
        for seq in 0..CAPACITY as u64 + 3 {
            mailbox.push(update(seq, Channel::Health));
        }
        let first = mailbox.try_take(2).unwrap();
        assert_eq!((seqs(&first), first.dropped), (vec![3, 4], 3));
        let rest = mailbox.try_take(usize::MAX).unwrap();
        assert_eq!(rest.dropped, 0);
        assert_eq!(rest.updates.len(), CAPACITY - 2);
        assert_eq!(rest.updates.last().unwrap().seq, CAPACITY as u64 + 2);
        assert!(mailbox.try_take(1).is_none());
    }

    #[tokio::test]
    async fn take_waits_for_a_push_and_misses_none() {
        let mailbox = Arc::new(Mailbox::default());
        let reader = tokio::spawn({
            let mailbox = mailbox.clone();
            async move {
                let mut got = Vec::new();
                while got.len() < 1_000 {
                    got.extend(seqs(&mailbox.take(7).await));
                }
                got
            }
        });
        for seq in 0..1_000 {
            if mailbox.push(update(seq, Channel::Health)) {
                mailbox.ready.notify_one();
            }
            if seq % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(reader.await.unwrap(), (0..1_000).collect::<Vec<_>>());
    }
}
