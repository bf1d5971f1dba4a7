//! Branch checks shared by lanes. Every `--resync`, the branch of each repository that lanes
//! use is checked once per access (URL, branch and credentials): one remote-head check, and a
//! fetch only when it moved. A lane is woken when its branch now answers differently from what
//! its own last reconcile saw: a failure starting or ending, or a new tip that changed one of
//! the files the lane reads. A commit to another app's files does not wake it, so one CI
//! commit does not send every lane of a busy repository through a reconcile; an idle lane
//! costs nothing while neither Git nor anything it watches changes, and it is still looked
//! at every `--full-resync`.
//!
//! The registry is filled by reconciles (the tip each one read, with the lane's own
//! credentials), so a check is never made with another lane's access, and a lane is never
//! told about a branch its credentials could not read.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use promote_git::RemoteSpec;

/// A lane: its namespace and name.
pub type LaneRef = (String, String);

/// What one lane's last reconcile read of its branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The lane.
    pub lane: LaneRef,
    /// The tip it read; None when that read failed.
    pub tip: Option<String>,
    /// The files it reads at the tip.
    pub files: Vec<String>,
}

/// A lane of a branch that now answers differently from what the lane last saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    /// The lane's key (`namespace/name`).
    pub key: String,
    /// What it saw.
    pub seen: Seen,
}

/// The lanes that reach one branch with one access, and what each last saw.
struct Group {
    remote: RemoteSpec,
    branch: String,
    /// Lane key → what it saw.
    lanes: HashMap<String, Seen>,
}

/// Which lanes use which branch, with which access.
#[derive(Default)]
pub struct Branches {
    groups: Mutex<Vec<Group>>,
}

impl std::fmt::Debug for Branches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Branches")
            .field("groups", &self.lock().len())
            .finish()
    }
}

impl Branches {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Group>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that lane `key` reached `branch` through `remote` and what it read there. The
    /// lane leaves any group it was in before (its spec or Secret changed).
    pub fn saw(&self, key: &str, remote: &RemoteSpec, branch: &str, seen: Seen) {
        self.forget(key);
        let mut groups = self.lock();
        let entry = (key.to_owned(), seen);
        match groups
            .iter_mut()
            .find(|g| g.branch == branch && g.remote == *remote)
        {
            Some(group) => {
                group.lanes.insert(entry.0, entry.1);
            }
            None => groups.push(Group {
                remote: remote.clone(),
                branch: branch.to_owned(),
                lanes: HashMap::from([entry]),
            }),
        }
    }

    /// Forgets lane `key` (deleted, or no longer reaching a repository).
    pub fn forget(&self, key: &str) {
        let mut groups = self.lock();
        for group in groups.iter_mut() {
            group.lanes.remove(key);
        }
        groups.retain(|g| !g.lanes.is_empty());
    }

    /// The branches to check, one per access.
    pub fn snapshot(&self) -> Vec<(RemoteSpec, String)> {
        self.lock()
            .iter()
            .map(|g| (g.remote.clone(), g.branch.clone()))
            .collect()
    }

    /// The lanes of `branch` through `remote` whose last read differs from what a check
    /// answered (`tip`; None: the check failed).
    pub fn moved(&self, remote: &RemoteSpec, branch: &str, tip: Option<&str>) -> Vec<Moved> {
        let groups = self.lock();
        let Some(group) = groups
            .iter()
            .find(|g| g.branch == branch && g.remote == *remote)
        else {
            return Vec::new();
        };
        group
            .lanes
            .iter()
            .filter(|(_, seen)| seen.tip.as_deref() != tip)
            .map(|(key, seen)| Moved {
                key: key.clone(),
                seen: seen.clone(),
            })
            .collect()
    }

    /// Marks lane `key` as told that its branch answered `to`, unless it registered anew since
    /// it was found [`moved`](Self::moved) from `from`; false then (its own reconcile has read
    /// the branch since, and the check's verdict is older than what it knows).
    pub fn told(
        &self,
        remote: &RemoteSpec,
        branch: &str,
        key: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> bool {
        let mut groups = self.lock();
        let seen = groups
            .iter_mut()
            .find(|g| g.branch == branch && g.remote == *remote)
            .and_then(|g| g.lanes.get_mut(key))
            .filter(|seen| seen.tip.as_deref() == from);
        match seen {
            Some(seen) => {
                seen.tip = to.map(str::to_owned);
                true
            }
            None => false,
        }
    }

    /// Lanes registered.
    #[cfg(test)]
    fn lanes(&self) -> usize {
        self.lock().iter().map(|g| g.lanes.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str, user: &str) -> RemoteSpec {
        RemoteSpec::new(url)
            .expect("url")
            .with_credentials(promote_git::Credentials::Basic {
                username: user.into(),
                password: promote_git::Secret::new("pw"),
            })
    }

    fn lane(name: &str) -> LaneRef {
        ("ns".into(), name.into())
    }

    fn seen(name: &str, tip: &str) -> Seen {
        Seen {
            lane: lane(name),
            tip: Some(tip.into()),
            files: vec![format!("release-dev/{name}.yaml")],
        }
    }

    /// The lanes a check wakes when every moved lane's files changed.
    fn wake_all(b: &Branches, r: &RemoteSpec, tip: Option<&str>) -> Vec<LaneRef> {
        let mut woken: Vec<LaneRef> = b
            .moved(r, "main", tip)
            .into_iter()
            .filter(|m| b.told(r, "main", &m.key, m.seen.tip.as_deref(), tip))
            .map(|m| m.seen.lane)
            .collect();
        woken.sort();
        woken
    }

    #[test]
    fn only_lanes_whose_last_read_differs_are_woken_once() {
        let b = Branches::default();
        let r = remote("https://git.example/a.git", "u");
        b.saw("ns/a", &r, "main", seen("a", "c1"));
        b.saw("ns/b", &r, "main", seen("b", "c2"));
        assert_eq!(b.snapshot().len(), 1, "one check for both lanes");
        assert_eq!(wake_all(&b, &r, Some("c2")), vec![lane("a")]);
        assert!(wake_all(&b, &r, Some("c2")).is_empty(), "told once");
        assert_eq!(
            wake_all(&b, &r, None),
            vec![lane("a"), lane("b")],
            "a failure starting wakes both"
        );
    }

    #[test]
    fn a_lane_that_read_the_branch_since_is_not_marked_by_an_older_check() {
        let b = Branches::default();
        let r = remote("https://git.example/a.git", "u");
        b.saw("ns/a", &r, "main", seen("a", "c1"));
        let moved = b.moved(&r, "main", Some("c2"));
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].seen.files, vec!["release-dev/a.yaml".to_owned()]);
        // Its own reconcile reads c3 while the check compares files.
        b.saw("ns/a", &r, "main", seen("a", "c3"));
        assert!(!b.told(&r, "main", "ns/a", Some("c1"), Some("c2")));
        assert_eq!(
            b.moved(&r, "main", Some("c3")),
            Vec::new(),
            "still at what it read itself"
        );
    }

    #[test]
    fn another_access_is_another_check_and_a_lane_is_in_one_group() {
        let b = Branches::default();
        let (r1, r2) = (
            remote("https://git.example/a.git", "u"),
            remote("https://git.example/a.git", "other"),
        );
        b.saw("ns/a", &r1, "main", seen("a", "c1"));
        b.saw("ns/b", &r2, "main", seen("b", "c1"));
        assert_eq!(b.snapshot().len(), 2);
        // A never hears what b's credentials read.
        assert_eq!(wake_all(&b, &r2, Some("c9")), vec![lane("b")]);
        b.saw("ns/a", &r2, "main", seen("a", "c9"));
        assert_eq!(
            b.snapshot().len(),
            1,
            "a moved to r2; r1's empty group is gone"
        );
        assert_eq!(b.lanes(), 2);
        b.forget("ns/a");
        b.forget("ns/b");
        assert!(b.snapshot().is_empty());
    }
}
