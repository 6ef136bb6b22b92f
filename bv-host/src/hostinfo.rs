//! Host metrics from procfs and the filesystem of the state root.

use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;

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
        used_cpu_percent: loads.first().copied().unwrap_or(0.0) * 100.0
            / std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64,
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
