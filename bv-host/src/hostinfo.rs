//! Host metrics from procfs and the filesystem of the state root.

use std::path::Path;
use std::sync::Mutex;

use babel_api::pb::blockvisor::v1 as pb;

/// Cumulative CPU time of all cores from the `cpu` line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

fn cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let cols: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|c| c.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = cols.iter().take(8).sum();
    let idle = cols.get(3).copied().unwrap_or(0) + cols.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// Share of all cores' time spent busy between two samples, 0..=100.
fn busy_percent(before: CpuTimes, after: CpuTimes) -> f64 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0.0;
    }
    let busy = after.busy.saturating_sub(before.busy).min(total);
    busy as f64 * 100.0 / total as f64
}

/// Fewer ticks than this between two samples make a figure too coarse to replace the last one.
const MIN_SAMPLE_TICKS: u64 = 50;

/// The last `/proc/stat` sample and the figure it gave: CPU use is the busy share since the
/// previous reading (since boot for the first one), never the load average, which counts
/// waiting tasks and so goes past 100 %.
static CPU_SAMPLE: Mutex<Option<(CpuTimes, f64)>> = Mutex::new(None);

fn used_cpu_percent() -> f64 {
    let Some(now) = cpu_times(&std::fs::read_to_string("/proc/stat").unwrap_or_default()) else {
        return 0.0;
    };
    let mut last = CPU_SAMPLE.lock().unwrap_or_else(|e| e.into_inner());
    let figure = match *last {
        Some((prev, figure)) if now.total.saturating_sub(prev.total) < MIN_SAMPLE_TICKS => {
            return figure;
        }
        Some((prev, _)) => busy_percent(prev, now),
        None => busy_percent(CpuTimes { busy: 0, total: 0 }, now),
    };
    *last = Some((now, figure));
    figure
}

fn meminfo(key: &str, text: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Received and sent bytes summed over every interface but loopback (`/proc/net/dev`).
pub fn net_dev_totals(text: &str) -> (u64, u64) {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .filter(|(iface, _)| iface.trim() != "lo")
        .map(|(_, rest)| {
            let cols: Vec<u64> = rest
                .split_whitespace()
                .map(|c| c.parse().unwrap_or(0))
                .collect();
            (
                cols.first().copied().unwrap_or(0),
                cols.get(8).copied().unwrap_or(0),
            )
        })
        .fold((0, 0), |(r, t), (a, b)| (r + a, t + b))
}

/// The host's figures; `used_ips` is the number of nodes holding a bridge address.
pub fn metrics(root: &Path, used_ips: usize) -> pb::HostMetrics {
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = meminfo("MemTotal:", &mem);
    let available = meminfo("MemAvailable:", &mem);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<f64> = load
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| {
            u.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    let (disk_total, disk_used) = nix::sys::statvfs::statvfs(root)
        .map(|s| {
            let frag = s.fragment_size();
            let total = s.blocks() * frag;
            (total, total.saturating_sub(s.blocks_free() * frag))
        })
        .unwrap_or((0, 0));
    let (rx, tx) = net_dev_totals(&std::fs::read_to_string("/proc/net/dev").unwrap_or_default());
    pb::HostMetrics {
        used_cpu_percent: used_cpu_percent(),
        used_memory_bytes: total.saturating_sub(available),
        total_memory_bytes: total,
        used_disk_bytes: disk_used,
        total_disk_bytes: disk_total,
        used_ips: u32::try_from(used_ips).unwrap_or(u32::MAX),
        load_one: loads.first().copied().unwrap_or(0.0),
        load_five: loads.get(1).copied().unwrap_or(0.0),
        load_fifteen: loads.get(2).copied().unwrap_or(0.0),
        network_received_bytes: rx,
        network_sent_bytes: tx,
        uptime_secs: uptime as u64,
        last_sweep: None,
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuTimes, busy_percent, cpu_times};

    #[test]
    fn cpu_use_is_the_busy_share_between_samples() {
        let a = cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(
            a,
            CpuTimes {
                busy: 150,
                total: 1000
            }
        );
        // 400 ticks later, 100 of them busy: 25 %, whatever the load average says.
        let b = cpu_times("cpu  180 0 70 1000 150 0 0 0 0 0\n").unwrap();
        assert_eq!(busy_percent(a, b), 25.0);
        assert_eq!(busy_percent(a, a), 0.0);
        assert!(cpu_times("intr 1 2 3\n").is_none());
        let all_busy = CpuTimes {
            busy: 1400,
            total: 1400,
        };
        assert_eq!(busy_percent(a, all_busy), 100.0);
    }
    #[test]
    fn net_dev_skips_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n  \
eth0: 500 5 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n  \
bvbr0: 20 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n";
        assert_eq!(super::net_dev_totals(text), (520, 310));
    }
}
