//! The checks every new node passes before anything is created, whichever path asked for it
//! (`bv node create`, the local API, a control-plane command): name, address, resources and
//! RAM disks. Each failure names the field.

use std::net::Ipv4Addr;
use std::path::{Component, Path};

use bv_host::config::NetworkConfig;

use super::state::{RamDisk, VmConfig};

/// Longest node name (a DNS label).
pub const MAX_NAME_LEN: usize = 63;
/// Most vCPUs a node may ask for, whatever the host has.
pub const MAX_CPUS: u32 = 1024;
/// Largest memory limit a node may ask for (16 TiB), whatever the host has.
pub const MAX_MEMORY_MB: u64 = 16 * 1024 * 1024;
/// Largest disk size a node may ask for (1 PB), whatever the host has.
pub const MAX_DISK_GB: u64 = 1_000_000;
/// Most RAM disks of one node.
pub const MAX_RAMDISKS: usize = 16;
/// Paths a RAM disk may not be mounted on or under.
const FORBIDDEN_MOUNTS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// A field of a node request that fails its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        reason: reason.into(),
    }
}

/// What the host can give a node (0 = unknown: only the fixed bounds apply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCapacity {
    pub cpus: u32,
    pub memory_mb: u64,
    pub disk_gb: u64,
}

impl HostCapacity {
    /// This host's CPUs, memory and the disk of the filesystem holding `root`.
    pub fn of_host(root: &Path) -> Self {
        let metrics = bv_host::hostinfo::metrics(root, 0);
        Self {
            cpus: std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(0),
            memory_mb: metrics.total_memory_bytes / (1024 * 1024),
            disk_gb: metrics.total_disk_bytes / 1_000_000_000,
        }
    }
}

/// A node name: a DNS label (lower-case letters, digits and `-`, not starting or ending with
/// `-`), at most [`MAX_NAME_LEN`] characters. Empty means "pick one" and passes.
pub fn name(name: &str) -> Result<(), InvalidField> {
    if name.is_empty() {
        return Ok(());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(
            "name",
            format!("at most {MAX_NAME_LEN} characters, got {}", name.len()),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(invalid(
            "name",
            format!(
                "`{}`: only a-z, 0-9 and `-` are allowed, found {c:?}",
                name.escape_debug()
            ),
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(invalid(
            "name",
            format!("`{name}`: must not start or end with `-`"),
        ));
    }
    Ok(())
}

/// A bridged node's address: inside the bridge subnet, not its network, gateway or broadcast
/// address, and not used by another node. Empty means "assign one" and passes.
pub fn ip(ip: &str, net: &NetworkConfig, used: &[Ipv4Addr]) -> Result<(), InvalidField> {
    if ip.is_empty() {
        return Ok(());
    }
    let addr: Ipv4Addr = ip.parse().map_err(|_| {
        invalid(
            "ip",
            format!("`{}` is not an IPv4 address", ip.escape_debug()),
        )
    })?;
    let prefix = u32::from(net.prefix.min(32));
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    let network = u32::from(net.gateway) & mask;
    let broadcast = network | !mask;
    let subnet = format!("{}/{}", Ipv4Addr::from(network), prefix);
    if u32::from(addr) & mask != network {
        return Err(invalid(
            "ip",
            format!("{addr} is outside the bridge subnet {subnet}"),
        ));
    }
    if u32::from(addr) == network || (prefix < 31 && u32::from(addr) == broadcast) {
        return Err(invalid(
            "ip",
            format!("{addr} is the network or broadcast address of {subnet}"),
        ));
    }
    if addr == net.gateway {
        return Err(invalid(
            "ip",
            format!("{addr} is the bridge's gateway address"),
        ));
    }
    if used.contains(&addr) {
        return Err(invalid(
            "ip",
            format!("{addr} is already used by another node"),
        ));
    }
    Ok(())
}

/// CPUs, memory and disk: within fixed sane bounds and the host's capacity (0 = default).
pub fn resources(vm: &VmConfig, host: &HostCapacity) -> Result<(), InvalidField> {
    bounded(
        "cpus",
        u64::from(vm.vcpu_count),
        u64::from(MAX_CPUS),
        u64::from(host.cpus),
    )?;
    bounded("memory_mb", vm.mem_size_mb, MAX_MEMORY_MB, host.memory_mb)?;
    bounded("disk_gb", vm.disk_size_gb, MAX_DISK_GB, host.disk_gb)?;
    ramdisks(&vm.ramdisks, vm.mem_size_mb, host)
}

fn bounded(field: &'static str, value: u64, max: u64, host: u64) -> Result<(), InvalidField> {
    if value > max {
        return Err(invalid(
            field,
            format!("{value} is above the limit of {max}"),
        ));
    }
    if host > 0 && value > host {
        return Err(invalid(
            field,
            format!("{value} is more than this host has ({host})"),
        ));
    }
    Ok(())
}

/// RAM disks: absolute, normalized mount paths, not on or under `/proc`, `/sys` or `/dev`,
/// unique, each 1 MB or more, together within the node's memory (or the host's when the node
/// has no limit).
pub fn ramdisks(list: &[RamDisk], memory_mb: u64, host: &HostCapacity) -> Result<(), InvalidField> {
    if list.len() > MAX_RAMDISKS {
        return Err(invalid(
            "ramdisks",
            format!("at most {MAX_RAMDISKS}, got {}", list.len()),
        ));
    }
    let mut total: u64 = 0;
    for (i, disk) in list.iter().enumerate() {
        mount_path(&disk.mount)?;
        if list[..i].iter().any(|d| d.mount == disk.mount) {
            return Err(invalid("ramdisk", format!("{} is given twice", disk.mount)));
        }
        if disk.size_mb == 0 {
            return Err(invalid(
                "ramdisk",
                format!("{}: size must be at least 1 MB", disk.mount),
            ));
        }
        total = total.saturating_add(disk.size_mb);
    }
    let budget = if memory_mb > 0 {
        memory_mb
    } else if host.memory_mb > 0 {
        host.memory_mb
    } else {
        MAX_MEMORY_MB
    };
    if total > budget {
        return Err(invalid(
            "ramdisk",
            format!("RAM disks total {total} MB, more than the {budget} MB of memory"),
        ));
    }
    Ok(())
}

fn mount_path(mount: &str) -> Result<(), InvalidField> {
    let bad = |why: &str| invalid("ramdisk", format!("`{}`: {why}", mount.escape_debug()));
    if mount.chars().any(char::is_control) {
        return Err(bad("control characters are not allowed"));
    }
    let path = Path::new(mount);
    if !path.is_absolute() {
        return Err(bad("must be an absolute path"));
    }
    // `Path::components` drops `.` and repeated `/`: check the text itself.
    let dotted = mount.split('/').any(|part| part == "." || part == "..");
    let normal = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if dotted || !normal || mount.contains("//") || (mount.len() > 1 && mount.ends_with('/')) {
        return Err(bad(
            "must be a normalized path (no `.`, `..`, `//` or trailing `/`)",
        ));
    }
    if mount == "/" {
        return Err(bad("cannot mount over the root"));
    }
    if FORBIDDEN_MOUNTS
        .iter()
        .any(|f| path == Path::new(f) || path.starts_with(f))
    {
        return Err(bad("not allowed on or under /proc, /sys or /dev"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
