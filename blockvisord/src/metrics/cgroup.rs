//! CPU and memory use of a container, read from the cgroup of its init process. Works with
//! cgroup v1 (`cpuacct`, `memory` controllers) and v2 (unified hierarchy).

use std::path::{Path, PathBuf};

/// One `/proc/<pid>/cgroup` line: hierarchy controllers (empty for v2) and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(|c| c.trim_start_matches("name=").to_string())
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// A cgroup filesystem mount: its root within the hierarchy, where it is mounted, and its
/// controllers (`None` for cgroup2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub root: String,
    pub mount_point: PathBuf,
    pub controllers: Option<Vec<String>>,
}

pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fields: Vec<&str> = left.split_whitespace().collect();
            let mut right = right.split_whitespace();
            let fstype = right.next()?;
            let _source = right.next()?;
            let options = right.next().unwrap_or_default();
            let root = (*fields.get(3)?).to_string();
            let mount_point = PathBuf::from(*fields.get(4)?);
            match fstype {
                "cgroup2" => Some(CgroupMount {
                    root,
                    mount_point,
                    controllers: None,
                }),
                "cgroup" => Some(CgroupMount {
                    root,
                    mount_point,
                    controllers: Some(
                        options
                            .split(',')
                            .filter(|o| !["rw", "ro"].contains(o) && !o.contains('='))
                            .map(String::from)
                            .collect(),
                    ),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The directory of `controller` (`None`: the v2 unified hierarchy) for this membership.
fn dir_of(
    mounts: &[CgroupMount],
    members: &[Membership],
    controller: Option<&str>,
) -> Option<PathBuf> {
    let member = members.iter().find(|m| match controller {
        Some(c) => m.controllers.iter().any(|x| x == c),
        None => m.controllers.is_empty(),
    })?;
    let mount = mounts.iter().find(|m| match (controller, &m.controllers) {
        (Some(c), Some(list)) => list.iter().any(|x| x == c),
        (None, None) => true,
        _ => false,
    })?;
    let rel = member
        .path
        .strip_prefix(mount.root.trim_end_matches('/'))
        .unwrap_or(&member.path);
    Some(mount.mount_point.join(rel.trim_start_matches('/')))
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// CPU seconds, memory bytes and memory limit (0: none) of a cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
}

/// Limits at or above this are "unlimited" (the kernel's v1 default is near `i64::MAX`).
const NO_LIMIT: u64 = 1 << 62;

pub fn usage_from(mounts: &[CgroupMount], members: &[Membership]) -> Option<Usage> {
    let mut usage = Usage::default();
    let mut found = false;
    if let Some(dir) = dir_of(mounts, members, Some("cpuacct"))
        && let Some(ns) = read_u64(&dir.join("cpuacct.usage"))
    {
        usage.cpu_seconds = ns as f64 / 1e9;
        found = true;
    }
    if let Some(dir) = dir_of(mounts, members, Some("memory"))
        && let Some(bytes) = read_u64(&dir.join("memory.usage_in_bytes"))
    {
        usage.memory_bytes = bytes;
        usage.memory_limit_bytes = read_u64(&dir.join("memory.limit_in_bytes"))
            .filter(|l| *l < NO_LIMIT)
            .unwrap_or(0);
        found = true;
    }
    if let Some(dir) = dir_of(mounts, members, None) {
        if !found
            && let Ok(stat) = std::fs::read_to_string(dir.join("cpu.stat"))
            && let Some(us) = stat
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        {
            usage.cpu_seconds = us as f64 / 1e6;
            found = true;
        }
        if let Some(bytes) = read_u64(&dir.join("memory.current")) {
            usage.memory_bytes = bytes;
            usage.memory_limit_bytes = read_u64(&dir.join("memory.max")).unwrap_or(0);
            found = true;
        }
    }
    found.then_some(usage)
}

/// The cgroup mounts of the daemon's mount namespace. The mount table grows with every node
/// (rootfs, data and netns mounts), so a health pass reads it once for all nodes: read per
/// node, a pass cost grew with the square of the node count.
pub fn mounts() -> Option<Vec<CgroupMount>> {
    Some(parse_mountinfo(
        &std::fs::read_to_string("/proc/self/mountinfo").ok()?,
    ))
}

/// CPU and memory use of the cgroups process `pid` belongs to, found under `mounts`.
pub fn usage_of_pid_in(mounts: &[CgroupMount], pid: u32) -> Option<Usage> {
    let members = parse_proc_cgroup(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?);
    usage_from(mounts, &members)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
35 24 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
37 35 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 35 0:33 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
39 24 8:1 / / rw,relatime - ext4 /dev/vda rw
";

    #[test]
    fn parses_membership_and_mounts() {
        let m = parse_proc_cgroup("4:memory:/bv/n1\n1:cpu,cpuacct:/bv/n1\n0::/bv/n1\n");
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].controllers, ["cpu", "cpuacct"]);
        assert!(m[2].controllers.is_empty());
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 3);
        assert_eq!(
            mounts[1].controllers.as_deref(),
            Some(&["memory".to_string()][..])
        );
        assert_eq!(mounts[2].controllers, None);
        assert_eq!(
            dir_of(&mounts, &m, Some("memory")).unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/bv/n1")
        );
        assert_eq!(
            dir_of(&mounts, &m, None).unwrap(),
            PathBuf::from("/sys/fs/cgroup/unified/bv/n1")
        );
    }

    #[test]
    fn reads_v1_and_v2_files() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("v1");
        std::fs::create_dir_all(v1.join("cpuacct/bv/n1")).unwrap();
        std::fs::create_dir_all(v1.join("memory/bv/n1")).unwrap();
        std::fs::write(v1.join("cpuacct/bv/n1/cpuacct.usage"), "2500000000\n").unwrap();
        std::fs::write(v1.join("memory/bv/n1/memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(
            v1.join("memory/bv/n1/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        let mounts = vec![
            CgroupMount {
                root: "/".into(),
                mount_point: v1.join("cpuacct"),
                controllers: Some(vec!["cpuacct".into()]),
            },
            CgroupMount {
                root: "/".into(),
                mount_point: v1.join("memory"),
                controllers: Some(vec!["memory".into()]),
            },
        ];
        let members = parse_proc_cgroup("3:cpuacct:/bv/n1\n2:memory:/bv/n1\n");
        let u = usage_from(&mounts, &members).unwrap();
        assert_eq!(u.cpu_seconds, 2.5);
        assert_eq!(u.memory_bytes, 4096);
        assert_eq!(u.memory_limit_bytes, 0);

        let v2 = dir.path().join("v2");
        std::fs::create_dir_all(v2.join("bv/n2")).unwrap();
        std::fs::write(
            v2.join("bv/n2/cpu.stat"),
            "usage_usec 1500000\nuser_usec 1\n",
        )
        .unwrap();
        std::fs::write(v2.join("bv/n2/memory.current"), "8192\n").unwrap();
        std::fs::write(v2.join("bv/n2/memory.max"), "1048576\n").unwrap();
        let mounts = vec![CgroupMount {
            root: "/".into(),
            mount_point: v2.clone(),
            controllers: None,
        }];
        let u = usage_from(&mounts, &parse_proc_cgroup("0::/bv/n2\n")).unwrap();
        assert_eq!(u.cpu_seconds, 1.5);
        assert_eq!((u.memory_bytes, u.memory_limit_bytes), (8192, 1_048_576));
        assert_eq!(
            usage_from(&mounts, &parse_proc_cgroup("3:cpuacct:/x\n")),
            None
        );
    }
}
