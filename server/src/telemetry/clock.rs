//! A coarse wall clock for `last_updated`: reading it is one atomic load, so
//! recording a metric never makes a system call. A background thread
//! advances it every 10 ms. (Engine events carry their own time instead, so
//! series rebuilt from the log say when they really changed.)

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Once;
use std::time::Duration;

use chrono::{DateTime, Utc};

static NOW_MS: AtomicI64 = AtomicI64::new(0);
static START: Once = Once::new();

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
    match NOW_MS.load(Ordering::Relaxed) {
        0 => wall_ms(),
        ms => ms,
    }
}

pub fn to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
