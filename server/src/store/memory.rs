use std::sync::Arc;

use parking_lot::Mutex;

use super::{EventLog, StoreError};
use crate::events::Event;

/// A log in memory, for tests and benchmarks of what sits above the disk.
/// Clones share the same events, like two connections to one database.
#[derive(Clone, Default)]
pub struct MemoryLog {
    events: Arc<Mutex<Vec<Event>>>,
}

impl EventLog for MemoryLog {
    fn append(&mut self, events: &[&Event]) -> Result<(), StoreError> {
        self.events
            .lock()
            .extend(events.iter().map(|e| (*e).clone()));
        Ok(())
    }

    fn replay(&mut self, f: &mut dyn FnMut(Event)) -> Result<u64, StoreError> {
        let events = self.events.lock().clone();
        let count = events.len() as u64;
        events.into_iter().for_each(f);
        Ok(count)
    }

    fn run_events(&mut self, run_id: &str) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .events
            .lock()
            .iter()
            .filter(|e| e.kind.run_id().is_some_and(|r| r.to_string() == run_id))
            .cloned()
            .collect())
    }
}
