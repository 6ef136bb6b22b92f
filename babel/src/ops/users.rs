//! User lookup for `run_as`, by parsing `/etc/passwd` ourselves: babel is a static executable
//! and must not depend on glibc NSS modules.

use std::path::{Path, PathBuf};

/// One `/etc/passwd` entry (the fields a job needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// Finds `name` in passwd-formatted `content`. Malformed lines are skipped.
pub fn find_user(content: &str, name: &str) -> Option<User> {
    content.lines().find_map(|line| {
        let mut f = line.split(':');
        let user = f.next()?;
        if user != name {
            return None;
        }
        let _password = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        let _gecos = f.next()?;
        let home = f.next()?;
        Some(User {
            name: user.to_string(),
            uid,
            gid,
            home: home.into(),
        })
    })
}

/// Looks `name` up in the passwd file at `passwd` (normally `/etc/passwd`).
pub fn lookup_user(passwd: &Path, name: &str) -> Option<User> {
    let content = std::fs::read_to_string(passwd).ok()?;
    find_user(&content, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        let u = find_user(passwd, "nobody").unwrap();
        assert_eq!((u.uid, u.gid), (65534, 65534));
        assert_eq!(u.home, PathBuf::from("/nonexistent"));
        assert_eq!(find_user(passwd, "root").unwrap().uid, 0);
        assert!(find_user(passwd, "nob").is_none());
        assert!(find_user(passwd, "broken").is_none());
    }
}
