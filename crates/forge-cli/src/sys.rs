//! Process resources: the open-files limit, CPU time, resident memory and
//! the async runtime's alive tasks.
//!
//! CPU and memory figures are read from `/proc/self` (Linux); elsewhere they
//! are reported as unavailable.

use std::time::Duration;

/// Raises the open-files soft limit to the hard limit; returns the new soft limit.
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// User plus system CPU time of this process so far.
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (USER_HZ, 100 on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Resets the peak resident set size to the current one (Linux `clear_refs`).
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Current and peak resident set size, in bytes.
pub(crate) fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The current runtime's alive (spawned, not yet ended) tasks.
///
/// # Panics
///
/// Outside a Tokio runtime.
pub(crate) fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits up to `bound` for the runtime's alive tasks to fall back to
/// `idle`, polling every 10 ms; returns the last count seen.
///
/// Tasks whose work is done may still count as alive for a moment (a
/// spawned conversation releases its permit just before it ends, a closed
/// connection's task still has to observe the close), hence the wait.
pub(crate) async fn settle_tasks(idle: usize, bound: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let alive = alive_tasks();
        if alive <= idle || tokio::time::Instant::now() >= deadline {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_and_memory_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(cpu_time().is_some());
            let (now, peak) = rss().unwrap();
            assert!(now > 0 && peak >= now);
        }
    }

    #[tokio::test]
    async fn alive_tasks_settle_back_to_idle() {
        let idle = alive_tasks();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = stopped.await;
        });
        assert_eq!(alive_tasks(), idle + 1);
        // Still running: the settle gives up at its bound.
        assert_eq!(
            settle_tasks(idle, Duration::from_millis(50)).await,
            idle + 1
        );
        drop(stop);
        assert_eq!(settle_tasks(idle, Duration::from_secs(5)).await, idle);
        task.await.unwrap();
    }
}
