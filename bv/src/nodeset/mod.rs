//! Node sets: N nodes of one image that peer with each other.
//!
//! A set is not a daemon object: it is the nodes tagged `bv-set=<name>` and named
//! `<name>-<index>`. Every member gets the other members' IPs in its `peers` property (the
//! image declares what it does with them); the operations here keep that list right while the
//! set is created, scaled and upgraded. Effects (node create/start/update/upgrade/delete) go
//! through [`SetHost`], so the sequencing is unit tested against a fake and driven by the
//! `bv set` CLI against blockvisord for real. Design notes: docs/node-sets.md.

use std::future::Future;

/// The property a set fills with the other members' IPs (comma-separated, index order).
pub const PEERS_PROPERTY: &str = "peers";
/// Tag prefix that marks set membership.
pub const TAG_PREFIX: &str = "bv-set=";

#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("set name `{0}`: use 1..=40 characters of a-z, 0-9 and `-`")]
    BadName(String),
    #[error("set `{0}` already exists ({1} members); scale it instead")]
    Exists(String, usize),
    #[error("no set named `{0}`")]
    NotFound(String),
    #[error("a set needs at least 1 member (use `bv set delete` to remove it)")]
    Empty,
    #[error("member `{member}`: {error}")]
    Member { member: String, error: String },
}

pub type SetResult<T> = Result<T, SetError>;

/// One node of a set, as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub index: u32,
    pub ip: String,
    /// Current value of the `peers` property.
    pub peers: String,
    /// Image URI the node runs.
    pub image: String,
}

/// The node operations a set needs. `create` makes a stopped node on the bridge from the
/// set's template; `set_peers` changes the `peers` property (a running node re-runs its init
/// with it); `upgrade` moves a node to the target image keeping its data; `wait_ready` returns
/// once the node runs and its protocol reports healthy.
pub trait SetHost {
    fn members(&mut self, set: &str) -> impl Future<Output = SetResult<Vec<Member>>>;
    fn create(&mut self, set: &str, index: u32) -> impl Future<Output = SetResult<Member>>;
    fn set_peers(&mut self, member: &Member, peers: &str) -> impl Future<Output = SetResult<()>>;
    fn start(&mut self, member: &Member) -> impl Future<Output = SetResult<()>>;
    fn delete(&mut self, member: &Member) -> impl Future<Output = SetResult<()>>;
    fn upgrade(&mut self, member: &Member) -> impl Future<Output = SetResult<()>>;
    fn wait_ready(&mut self, member: &Member) -> impl Future<Output = SetResult<()>>;
}

pub fn check_name(set: &str) -> SetResult<()> {
    let ok = (1..=40).contains(&set.len())
        && set
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(SetError::BadName(set.into()))
    }
}

pub fn tag(set: &str) -> String {
    format!("{TAG_PREFIX}{set}")
}

pub fn member_name(set: &str, index: u32) -> String {
    format!("{set}-{index}")
}

/// The index of a member called `<set>-<index>`.
pub fn index_of(set: &str, name: &str) -> Option<u32> {
    name.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// The other members' IPs in index order, comma-separated.
pub fn peers_of(all: &[Member], me: &Member) -> String {
    let mut others: Vec<&Member> = all.iter().filter(|m| m.name != me.name).collect();
    others.sort_by_key(|m| m.index);
    others
        .iter()
        .map(|m| m.ip.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// What scaling to `count` does: indexes to add (lowest free first) and members to remove
/// (highest index first).
#[derive(Debug, PartialEq, Eq)]
pub struct ScalePlan {
    pub add: Vec<u32>,
    pub remove: Vec<Member>,
}

pub fn scale_plan(members: &[Member], count: usize) -> ScalePlan {
    let mut sorted: Vec<Member> = members.to_vec();
    sorted.sort_by_key(|m| m.index);
    if count <= sorted.len() {
        let remove = sorted.split_off(count).into_iter().rev().collect();
        return ScalePlan {
            add: vec![],
            remove,
        };
    }
    let taken: Vec<u32> = sorted.iter().map(|m| m.index).collect();
    let add = (1..)
        .filter(|i| !taken.contains(i))
        .take(count - sorted.len())
        .collect();
    ScalePlan {
        add,
        remove: vec![],
    }
}

/// Gives every member in `targets` its peer list from `all`, skipping unchanged ones. Running
/// members restart their services one at a time and are waited for when `wait` is set.
async fn refresh_peers(
    host: &mut impl SetHost,
    all: &[Member],
    targets: &[Member],
    wait: bool,
) -> SetResult<()> {
    for m in targets {
        let peers = peers_of(all, m);
        if peers == m.peers {
            continue;
        }
        host.set_peers(m, &peers).await?;
        if wait {
            host.wait_ready(m).await?;
        }
    }
    Ok(())
}

/// Creates `count` members, gives each the others as peers, then starts them all.
/// If a member cannot be created, the members created so far are deleted again.
pub async fn create(host: &mut impl SetHost, set: &str, count: usize) -> SetResult<Vec<Member>> {
    check_name(set)?;
    if count == 0 {
        return Err(SetError::Empty);
    }
    let existing = host.members(set).await?;
    if !existing.is_empty() {
        return Err(SetError::Exists(set.into(), existing.len()));
    }
    let mut created = Vec::with_capacity(count);
    for index in 1..=count as u32 {
        match host.create(set, index).await {
            Ok(m) => created.push(m),
            Err(e) => {
                for m in &created {
                    let _ = host.delete(m).await;
                }
                return Err(e);
            }
        }
    }
    refresh_peers(host, &created, &created, false).await?;
    for m in &created {
        host.start(m).await?;
    }
    host.members(set).await
}

/// Scales the set to `count` members. New members start with the full peer list; the
/// members that stay get the new list one at a time, each waited for before the next.
pub async fn scale(host: &mut impl SetHost, set: &str, count: usize) -> SetResult<Vec<Member>> {
    check_name(set)?;
    if count == 0 {
        return Err(SetError::Empty);
    }
    let members = host.members(set).await?;
    if members.is_empty() {
        return Err(SetError::NotFound(set.into()));
    }
    let plan = scale_plan(&members, count);
    for m in &plan.remove {
        host.delete(m).await?;
    }
    let mut added = vec![];
    for index in &plan.add {
        added.push(host.create(set, *index).await?);
    }
    let staying: Vec<Member> = members
        .into_iter()
        .filter(|m| !plan.remove.contains(m))
        .collect();
    let all: Vec<Member> = staying.iter().chain(added.iter()).cloned().collect();
    refresh_peers(host, &all, &added, false).await?;
    for m in &added {
        host.start(m).await?;
    }
    refresh_peers(host, &all, &staying, true).await?;
    host.members(set).await
}

/// Upgrades the members one at a time in index order; each must be ready before the next
/// goes down. Stops at the first failure (later members keep their image); members already
/// on `image` are skipped, so re-running resumes an interrupted rollout.
pub async fn upgrade(host: &mut impl SetHost, set: &str, image: &str) -> SetResult<Vec<Member>> {
    let mut members = host.members(set).await?;
    if members.is_empty() {
        return Err(SetError::NotFound(set.into()));
    }
    members.sort_by_key(|m| m.index);
    for m in members.iter().filter(|m| m.image != image) {
        host.upgrade(m).await?;
        host.wait_ready(m).await?;
    }
    host.members(set).await
}

/// Deletes every member.
pub async fn delete(host: &mut impl SetHost, set: &str) -> SetResult<Vec<Member>> {
    let members = host.members(set).await?;
    if members.is_empty() {
        return Err(SetError::NotFound(set.into()));
    }
    for m in &members {
        host.delete(m).await?;
    }
    Ok(members)
}

#[cfg(test)]
mod tests;
