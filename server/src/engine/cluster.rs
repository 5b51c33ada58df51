//! The engine's part in a cluster (several servers on one PostgreSQL log):
//! it renews this node's lease, takes over the runs of nodes whose leases
//! lapsed, and acts on what other nodes write about the runs it runs (a
//! cancel, a vote). Alone on its log, none of this runs.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use ulid::Ulid;

use super::{resume, Engine, Recovered};
use crate::events::EventKind;

/// How often the lease is renewed and lapsed ones looked for: a node that
/// dies is taken over within its lease and this.
const RENEW_EVERY: Duration = Duration::from_secs(1);

impl Engine {
    /// Keeps this node in the cluster until the server stops: renews its
    /// lease, and takes over the nodes whose leases lapsed. Should this
    /// node find itself taken over (it could not renew in time), it stops
    /// at once, writing nothing more: its runs are another's now.
    pub async fn run_cluster(self) {
        let Some(log) = self.inner.journal.shared().cloned() else {
            return;
        };
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        // Since when this node has renewed its lease without a miss. Only a
        // node that has for a whole lease takes others over: after an
        // outage of the database longer than the lease, every node's lease
        // has lapsed, and the first back must not take the others' runs
        // before they had the time to renew theirs.
        let lease = Duration::from_secs(log.lease_secs().into());
        let mut renewing_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.inner.stopping.cancelled() => return,
            }
            let free = self.inner.slots.available_permits();
            let log = log.clone();
            let steady = renewing_since.is_some_and(|t| t.elapsed() >= lease);
            let checked = tokio::task::spawn_blocking(move || {
                let renewed = log.renew(free)?;
                let lapsed = if renewed && steady {
                    log.take_lapsed()?
                } else {
                    Vec::new()
                };
                let nodes = log.cluster()?;
                Ok::<_, crate::store::StoreError>((renewed && !log.fenced(), lapsed, nodes))
            })
            .await;
            match checked {
                Ok(Ok((true, lapsed, nodes))) => {
                    if failing {
                        tracing::info!("this node's lease is renewed again");
                        failing = false;
                    }
                    *self.inner.cluster.lock() = Some(nodes);
                    renewing_since.get_or_insert_with(tokio::time::Instant::now);
                    for node in lapsed {
                        self.take_over(&node).await;
                    }
                }
                Ok(Ok((false, ..))) => {
                    tracing::error!("{}", crate::store::FENCED);
                    self.inner.fenced.cancel();
                    return;
                }
                Ok(Err(e)) => {
                    renewing_since = None;
                    if !failing {
                        tracing::warn!("cannot renew this node's lease: {e}");
                        failing = true;
                    }
                }
                Err(e) => tracing::error!("renewing the lease: {e}"),
            }
        }
    }

    /// The cluster's nodes as this one last read them; `None` alone.
    pub fn cluster(&self) -> Option<wire::ClusterHealth> {
        self.inner.cluster.lock().clone()
    }

    /// Cancelled when another node took this one over: the server stops.
    pub fn fenced(&self) -> &tokio_util::sync::CancellationToken {
        &self.inner.fenced
    }

    /// Runs the runs of `dead` from here on: each is claimed in the log,
    /// then goes on where the log says it was, as after a restart
    /// ([`resume`]): its attempts in flight recorded lost and retried.
    async fn take_over(&self, dead: &str) -> Recovered {
        let journal = self.inner.journal.clone();
        // Everything the dead node committed is folded first (it was taken
        // under the appends' lock: nothing of it commits after).
        let caught_up = tokio::task::spawn_blocking({
            let journal = journal.clone();
            move || journal.catch_up()
        })
        .await;
        if let Ok(Err(e)) | Err(e) = caught_up.map_err(|e| crate::store::StoreError(e.to_string()))
        {
            tracing::warn!("taking over node {dead}: reading the log: {e}");
        }
        let me = journal.node().unwrap_or_default().to_string();
        let runs: Vec<Ulid> = journal.read(|m| {
            m.runs
                .in_flight()
                .filter(|r| r.node.as_deref() == Some(dead))
                .map(|r| r.run_id)
                .collect()
        });
        // Shared out in proportion to the step slots each node had free
        // when it last renewed its lease (this one's: now).
        let mut nodes: Vec<(String, usize)> = self
            .cluster()
            .map(|c| {
                c.nodes
                    .into_iter()
                    .filter(|n| n.alive && n.node_id != me && n.node_id != dead)
                    .map(|n| (n.node_id, n.free_slots as usize))
                    .collect()
            })
            .unwrap_or_default();
        nodes.insert(0, (me.clone(), self.inner.slots.available_permits()));
        let counts = shares(runs.len(), &nodes.iter().map(|n| n.1).collect::<Vec<_>>());
        let mut claimed: HashSet<Ulid> = HashSet::new();
        let mut next = runs.iter();
        for ((node, _), n) in nodes.iter().zip(counts) {
            for &run_id in next.by_ref().take(n) {
                let mine = *node == me;
                journal.publish(EventKind::RunClaimed {
                    run_id,
                    node: node.clone(),
                    from: dead.to_string(),
                    by: (!mine).then(|| me.clone()),
                });
                if mine {
                    claimed.insert(run_id);
                }
            }
        }
        let now = chrono::Utc::now();
        let assessed = self
            .assess_in_flight(now, resume::NODE_LOST, |r| claimed.contains(&r.run_id))
            .await;
        let mut recovered = Recovered::default();
        self.go_on(assessed, now, false, &mut recovered);
        tracing::info!(
            node = dead,
            runs = runs.len(),
            resumed_here = recovered.resumed.len(),
            interrupted = recovered.interrupted.len(),
            "took over the runs of a node whose lease lapsed"
        );
        recovered
    }

    /// The node a new run goes to: this one (`None` alone), unless all its
    /// step slots are taken and another node had some free at its last
    /// renewal: then the one with the most.
    pub(super) fn placement(&self) -> Option<String> {
        let me = self.inner.journal.node()?;
        if self.inner.slots.available_permits() > 0 {
            return Some(me.to_string());
        }
        let other = self.cluster().and_then(|c| {
            c.nodes
                .into_iter()
                .filter(|n| n.alive && n.node_id != me && n.free_slots > 0)
                .max_by_key(|n| n.free_slots)
        });
        Some(other.map_or_else(|| me.to_string(), |n| n.node_id))
    }

    /// Runs a run another node gave this one (its share of a lapsed
    /// node's runs, or a new run it had no free slot for), as a take-over
    /// does.
    async fn given(&self, run_id: Ulid) {
        if self.inner.running.lock().contains_key(&run_id) {
            return;
        }
        let now = chrono::Utc::now();
        let assessed = self
            .assess_in_flight(now, resume::NODE_LOST, |r| r.run_id == run_id)
            .await;
        let mut recovered = Recovered::default();
        self.go_on(assessed, now, false, &mut recovered);
    }

    /// Acts on what the cluster's other nodes write about this node's runs
    /// until the journal closes: a cancel asked there stops the run here;
    /// a vote cast there may decide an approval this node resolves; a run
    /// given to this node runs here; a routine changed there is scheduled.
    pub async fn follow_cluster(self) {
        let journal = self.inner.journal.clone();
        if journal.node().is_none() {
            return;
        }
        let mut feed = journal.subscribe_where(|k| {
            matches!(
                k,
                EventKind::RunCancelRequested { .. }
                    | EventKind::VoteCast { .. }
                    | EventKind::RunClaimed { by: Some(_), .. }
                    | EventKind::RunCreated { node: Some(_), .. }
                    | EventKind::RoutineCreated { .. }
                    | EventKind::RoutineUpdated { .. }
                    | EventKind::RoutineEnabled { .. }
                    | EventKind::RoutineDisabled { .. }
                    | EventKind::RoutineDeleted { .. }
            )
        });
        loop {
            let event = match feed.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => {
                    // Whatever was missed, the model knows.
                    self.cancel_requested_elsewhere();
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            match &event.kind {
                EventKind::RunClaimed {
                    run_id,
                    node,
                    by: Some(by),
                    ..
                } if Some(node.as_str()) == journal.node()
                    && Some(by.as_str()) != journal.node() =>
                {
                    self.given(*run_id).await;
                }
                // (This node's own runs are running here already.)
                EventKind::RunCreated {
                    run_id,
                    node: Some(node),
                    ..
                } if Some(node.as_str()) == journal.node() => {
                    self.given(*run_id).await;
                }
                EventKind::RunCancelRequested { run_id, .. } => {
                    let token = self.inner.running.lock().get(run_id).cloned();
                    if let Some(token) = token {
                        token.cancel();
                    }
                }
                EventKind::VoteCast {
                    approval_id,
                    run_id,
                    ..
                } => {
                    let mine = journal.read(|m| {
                        m.runs.get(run_id).and_then(|r| r.node.clone()).as_deref() == journal.node()
                    });
                    if mine {
                        self.resolve_if_decided(*approval_id);
                    }
                }
                // A routine changed at another node: the scheduler (which
                // fires on the leader) looks at the schedule again.
                EventKind::RoutineCreated { .. }
                | EventKind::RoutineUpdated { .. }
                | EventKind::RoutineEnabled { .. }
                | EventKind::RoutineDisabled { .. }
                | EventKind::RoutineDeleted { .. } => self.inner.schedule_changed.notify_one(),
                _ => {}
            }
        }
    }

    /// Cancels the runs in flight here whose cancel the model holds.
    fn cancel_requested_elsewhere(&self) {
        let running: Vec<(Ulid, tokio_util::sync::CancellationToken)> = self
            .inner
            .running
            .lock()
            .iter()
            .map(|(id, t)| (*id, t.clone()))
            .collect();
        for (run_id, token) in running {
            let asked = self
                .inner
                .journal
                .read(|m| m.runs.get(&run_id).is_some_and(|r| r.cancel_requested));
            if asked {
                token.cancel();
            }
        }
    }
}

/// How many of `runs` each node takes, in proportion to its free slots
/// (largest remainders first, ties to the earlier node); all to the first
/// node (the one that took them over) when none has a slot free.
fn shares(runs: usize, free: &[usize]) -> Vec<usize> {
    let total: usize = free.iter().sum();
    let mut out = vec![0; free.len()];
    if free.is_empty() {
        return out;
    }
    if total == 0 {
        out[0] = runs;
        return out;
    }
    let mut remainders = Vec::with_capacity(free.len());
    for (i, &f) in free.iter().enumerate() {
        out[i] = runs * f / total;
        remainders.push((runs * f % total, i));
    }
    let left = runs - out.iter().sum::<usize>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(left) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn runs_are_shared_in_proportion_to_free_slots() {
        assert_eq!(shares(10, &[100, 100]), [5, 5]);
        assert_eq!(shares(10, &[256, 0, 256]), [5, 0, 5]);
        assert_eq!(shares(7, &[1, 2, 4]), [1, 2, 4]);
        assert_eq!(shares(3, &[1, 1]), [2, 1], "the earlier node breaks a tie");
        assert_eq!(
            shares(5, &[0, 0]),
            [5, 0],
            "nobody free: the taker takes all"
        );
        assert_eq!(shares(0, &[3, 4]), [0, 0]);
        assert!(shares(0, &[]).is_empty());
        for runs in 0..50 {
            assert_eq!(shares(runs, &[3, 7, 11]).iter().sum::<usize>(), runs);
        }
    }
}
