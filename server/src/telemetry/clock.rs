//! A coarse wall clock for `last_updated`: reading it is one atomic load, so
//! recording a metric never makes a system call. A background thread
//! advances it every 10 ms. While events are replayed, the time of the event
//! being applied stands in for it, so series rebuilt from the log say when
//! they really changed.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Once;
use std::time::Duration;

use chrono::{DateTime, Utc};

static NOW_MS: AtomicI64 = AtomicI64::new(0);
static START: Once = Once::new();

thread_local! {
    static OVERRIDE_MS: Cell<Option<i64>> = const { Cell::new(None) };
}

fn wall_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Starts the ticking thread (once per process).
pub fn start() {
    START.call_once(|| {
        NOW_MS.store(wall_ms(), Ordering::Relaxed);
        std::thread::Builder::new()
            .name("metrics-clock".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_millis(10));
                NOW_MS.store(wall_ms(), Ordering::Relaxed);
            })
            .expect("spawn the metrics clock");
    });
}

/// Milliseconds since the epoch, to about 10 ms.
#[inline]
pub fn now_ms() -> i64 {
    if let Some(ms) = OVERRIDE_MS.with(Cell::get) {
        return ms;
    }
    match NOW_MS.load(Ordering::Relaxed) {
        0 => wall_ms(),
        ms => ms,
    }
}

/// Runs `f` with the clock reading `at` on this thread.
pub fn at<T>(at: DateTime<Utc>, f: impl FnOnce() -> T) -> T {
    let previous = OVERRIDE_MS.with(|c| c.replace(Some(at.timestamp_millis())));
    let out = f();
    OVERRIDE_MS.with(|c| c.set(previous));
    out
}

pub fn to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
