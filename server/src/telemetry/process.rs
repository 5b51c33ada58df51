//! The standard process metrics of Prometheus's client libraries
//! (`process_resident_memory_bytes`, `process_open_fds`, …), read from
//! `/proc` as client_golang does, so that dashboards and alerts written for
//! any Prometheus-instrumented service work on Shiioo unchanged.

use std::fs;

/// What `/proc` says about this process; a figure it could not read is
/// `None` (another OS, a restricted `/proc`), never a made-up 0.
#[derive(Debug, Default, PartialEq)]
pub struct Process {
    /// User and system CPU time spent, in seconds.
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub virtual_memory_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

impl Process {
    pub fn read() -> Self {
        let stat = fs::read_to_string("/proc/self/stat").ok();
        let fields = stat.as_deref().map(stat_fields).unwrap_or_default();
        let field = |n: usize| fields.get(n).and_then(|f| f.parse::<f64>().ok());
        // SAFETY: sysconf only reads a system constant.
        let (page, ticks) = unsafe {
            (
                libc::sysconf(libc::_SC_PAGESIZE),
                libc::sysconf(libc::_SC_CLK_TCK),
            )
        };
        let boot = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        let per_tick = |t: f64| (ticks > 0).then(|| t / ticks as f64);
        Self {
            // Fields counted from `state` (the third of proc(5)'s list) as 0.
            cpu_seconds: match (field(11), field(12)) {
                (Some(user), Some(system)) => per_tick(user + system),
                _ => None,
            },
            virtual_memory_bytes: field(20),
            resident_memory_bytes: field(21)
                .filter(|_| page > 0)
                .map(|pages| pages * page as f64),
            start_time_seconds: match (field(19), boot) {
                (Some(start), Some(boot)) => per_tick(start).map(|s| boot + s),
                _ => None,
            },
            open_fds: fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64),
            max_fds: fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|l| max_open_files(&l)),
        }
    }
}

/// The fields of `/proc/self/stat` after the command name, which may hold
/// spaces and parentheses itself: everything after its last `)`.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// `btime` of `/proc/stat`: when the machine booted, in Unix seconds.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit of "Max open files" in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    let soft = line.split_whitespace().next()?;
    match soft {
        // As client_golang reports it: RLIM_INFINITY, a finite number that
        // JSON can carry too.
        "unlimited" => Some(u64::MAX as f64),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 \
                    100 0 0 0 7 3 0 0 20 0 9 0 12345 987654321 2048 rest";
        let fields = stat_fields(stat);
        assert_eq!(fields[0], "S");
        assert_eq!((fields[11], fields[12]), ("7", "3"), "utime, stime");
        assert_eq!(fields[19], "12345", "starttime");
        assert_eq!(fields[20], "987654321", "vsize");
        assert_eq!(fields[21], "2048", "rss");
    }

    #[test]
    fn limits_and_boot_time_are_read_from_their_lines() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1764633600\nprocesses 9\n"),
            Some(1764633600.0)
        );
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[test]
    fn this_process_reads_as_alive() {
        let p = Process::read();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        let cpu = Process::read().cpu_seconds.unwrap();
        assert!(cpu >= p.cpu_seconds.unwrap() && cpu > 0.0, "{cpu}");
        assert!(p.resident_memory_bytes.unwrap() > 1e6);
        assert!(p.virtual_memory_bytes.unwrap() >= p.resident_memory_bytes.unwrap());
        let open = p.open_fds.unwrap();
        assert!(open >= 3.0 && open <= p.max_fds.unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = p.start_time_seconds.unwrap();
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
    }
}
