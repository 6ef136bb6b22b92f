//! Property tests of the node request checks: a seeded generator of hostile and valid
//! inputs; whatever is accepted satisfies the rules, and valid inputs are accepted.

use super::*;

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }

    fn string(&mut self, alphabet: &[&str], max_len: u64) -> String {
        (0..self.below(max_len + 1))
            .map(|_| *self.pick(alphabet))
            .collect()
    }

    /// Edge-heavy u64: small, near limits, or anything.
    fn number(&mut self) -> u64 {
        match self.below(4) {
            0 => self.below(64),
            1 => u64::MAX - self.below(4),
            2 => 1u64 << self.below(64),
            _ => self.next(),
        }
    }
}

const NAME_PARTS: &[&str] = &[
    "a",
    "z",
    "0",
    "9",
    "-",
    "node",
    "/",
    "..",
    ".",
    " ",
    "\n",
    "\t",
    "\0",
    ";",
    "A",
    "é",
    "_",
    "rm -rf /",
    "../../etc/evil",
    "\u{7f}",
];

const PATH_PARTS: &[&str] = &[
    "/", "mnt", "ram", "..", ".", "//", "proc", "sys", "dev", "data", " ", "\n", "x",
];

fn net() -> NetworkConfig {
    NetworkConfig {
        gateway: Ipv4Addr::new(10, 77, 0, 1),
        prefix: 16,
        ..NetworkConfig::default()
    }
}

#[test]
fn accepted_names_are_dns_labels() {
    let mut g = Gen(0x5eed_0001);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let candidate = g.string(NAME_PARTS, 12);
        let Ok(()) = name(&candidate) else { continue };
        accepted += 1;
        assert!(candidate.len() <= MAX_NAME_LEN, "{candidate:?}");
        assert!(
            !candidate.contains('/') && !candidate.contains(".."),
            "{candidate:?}"
        );
        assert!(
            !candidate
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()),
            "{candidate:?}"
        );
        assert!(
            candidate.is_empty()
                || (!candidate.starts_with('-')
                    && !candidate.ends_with('-')
                    && candidate
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')),
            "{candidate:?}"
        );
    }
    assert!(accepted > 100, "the generator must reach valid names too");
}

#[test]
fn valid_names_are_accepted_and_hostile_ones_name_the_field() {
    let mut g = Gen(0x5eed_0002);
    for _ in 0..5_000 {
        let len = 1 + g.below(MAX_NAME_LEN as u64);
        let mut s: String = (0..len)
            .map(|_| *g.pick(&["a", "b", "q", "z", "0", "7", "-"]))
            .collect();
        s.replace_range(0..1, "n");
        if s.ends_with('-') {
            s.pop();
            s.push('x');
        }
        assert_eq!(name(&s), Ok(()), "{s:?}");
    }
    for bad in [
        "../../../etc/evil",
        "a\nb",
        "x;rm -rf /",
        "a b",
        "-a",
        &"a".repeat(64),
    ] {
        let err = name(bad).unwrap_err();
        assert_eq!(err.field, "name", "{bad:?}");
    }
}

#[test]
fn accepted_ips_are_free_host_addresses_of_the_subnet() {
    let mut g = Gen(0x5eed_0003);
    let net = net();
    let used = [Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 3, 4)];
    let mut accepted = 0;
    for _ in 0..20_000 {
        let addr = match g.below(3) {
            0 => Ipv4Addr::from(g.next() as u32),
            1 => Ipv4Addr::new(10, 77, g.below(256) as u8, g.below(256) as u8),
            _ => *g.pick(&[
                net.gateway,
                Ipv4Addr::new(10, 77, 0, 0),
                Ipv4Addr::new(10, 77, 255, 255),
                Ipv4Addr::new(8, 8, 8, 8),
                used[0],
            ]),
        };
        let text = if g.below(10) == 0 {
            format!("{addr}x")
        } else {
            addr.to_string()
        };
        let Ok(()) = ip(&text, &net, &used) else {
            continue;
        };
        accepted += 1;
        let octets = addr.octets();
        assert_eq!(&octets[..2], &[10, 77], "{addr}");
        assert_ne!(addr, net.gateway);
        assert_ne!(addr, Ipv4Addr::new(10, 77, 0, 0));
        assert_ne!(addr, Ipv4Addr::new(10, 77, 255, 255));
        assert!(!used.contains(&addr));
    }
    assert!(accepted > 1_000);
    for (bad, why) in [
        ("10.77.0.1", "gateway"),
        ("8.8.8.8", "outside"),
        ("10.77.0.2", "already used"),
        ("10.77.255.255", "broadcast"),
    ] {
        let err = ip(bad, &net, &used).unwrap_err();
        assert_eq!(err.field, "ip");
        assert!(err.reason.contains(why), "{bad}: {err}");
    }
}

#[test]
fn accepted_resources_fit_bounds_and_host() {
    let mut g = Gen(0x5eed_0004);
    let host = HostCapacity {
        cpus: 8,
        memory_mb: 32 * 1024,
        disk_gb: 500,
    };
    for _ in 0..20_000 {
        let vm = VmConfig {
            vcpu_count: (g.number() % (u64::from(u32::MAX) + 1)) as u32,
            mem_size_mb: g.number(),
            disk_size_gb: g.number(),
            ramdisks: vec![],
        };
        if resources(&vm, &host).is_ok() {
            assert!(vm.vcpu_count <= host.cpus, "{vm:?}");
            assert!(vm.mem_size_mb <= host.memory_mb, "{vm:?}");
            assert!(vm.disk_size_gb <= host.disk_gb, "{vm:?}");
            // What the container spec converts must not overflow.
            assert!(i64::try_from(vm.mem_size_mb.saturating_mul(1024 * 1024)).is_ok());
        }
    }
    let huge = VmConfig {
        mem_size_mb: u64::MAX,
        ..VmConfig::default()
    };
    assert_eq!(resources(&huge, &host).unwrap_err().field, "memory_mb");
    let unknown_host = HostCapacity::default();
    assert_eq!(
        resources(&huge, &unknown_host).unwrap_err().field,
        "memory_mb"
    );
}

#[test]
fn accepted_ramdisks_are_safe_absolute_paths() {
    let mut g = Gen(0x5eed_0005);
    let host = HostCapacity {
        memory_mb: 4096,
        ..HostCapacity::default()
    };
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mount = g.string(PATH_PARTS, 6);
        let disk = RamDisk {
            mount: mount.clone(),
            size_mb: g.number() % 8192,
        };
        let Ok(()) = ramdisks(std::slice::from_ref(&disk), 0, &host) else {
            continue;
        };
        accepted += 1;
        assert!(mount.starts_with('/') && mount.len() > 1, "{mount:?}");
        assert!(
            !mount.split('/').any(|c| c == ".." || c == "."),
            "{mount:?}"
        );
        assert!(!mount.contains("//") && !mount.ends_with('/'), "{mount:?}");
        assert!(!mount.chars().any(char::is_control), "{mount:?}");
        for forbidden in ["/proc", "/sys", "/dev"] {
            assert!(
                mount != forbidden && !mount.starts_with(&format!("{forbidden}/")),
                "{mount:?}"
            );
        }
        assert!(
            disk.size_mb >= 1 && disk.size_mb <= host.memory_mb,
            "{disk:?}"
        );
    }
    assert!(accepted > 50, "the generator must reach valid paths too");
    let ok = RamDisk {
        mount: "/mnt/ram".into(),
        size_mb: 16,
    };
    assert_eq!(ramdisks(std::slice::from_ref(&ok), 256, &host), Ok(()));
    assert!(ramdisks(&[ok.clone(), ok], 256, &host).is_err());
    let over = RamDisk {
        mount: "/mnt/ram".into(),
        size_mb: 512,
    };
    assert_eq!(ramdisks(&[over], 256, &host).unwrap_err().field, "ramdisk");
}
