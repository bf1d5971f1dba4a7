//! Branch checks shared by lanes. Every `--resync`, the branch of each repository that lanes
//! use is checked once per access (URL, branch and credentials): one remote-head check, and a
//! fetch only when it moved. A lane is woken when its branch now answers differently from what
//! its own last reconcile saw (a new tip, or a failure starting or ending), so an idle lane
//! costs nothing while neither Git nor anything it watches changes; it is still looked at
//! every `--full-resync`.
//!
//! The registry is filled by reconciles (the tip each one read, with the lane's own
//! credentials), so a check is never made with another lane's access, and a lane is never
//! told about a branch its credentials could not read.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use promote_git::RemoteSpec;

/// A lane: its namespace and name.
pub type LaneRef = (String, String);

/// The lanes that reach one branch with one access, and what each last saw.
struct Group {
    remote: RemoteSpec,
    branch: String,
    /// Lane key → (lane, the tip its last reconcile read; None when that read failed).
    lanes: HashMap<String, (LaneRef, Option<String>)>,
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

    /// Records that lane `key` reached `branch` through `remote` and read `tip` (None: the read
    /// failed). The lane leaves any group it was in before (its spec or Secret changed).
    pub fn saw(
        &self,
        key: &str,
        lane: LaneRef,
        remote: &RemoteSpec,
        branch: &str,
        tip: Option<String>,
    ) {
        self.forget(key);
        let mut groups = self.lock();
        let entry = (key.to_owned(), (lane, tip));
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

    /// Notes what a check of `branch` through `remote` answered, and returns the lanes whose
    /// own last read differs, marking them as told.
    pub fn answered(&self, remote: &RemoteSpec, branch: &str, tip: Option<&str>) -> Vec<LaneRef> {
        let mut groups = self.lock();
        let Some(group) = groups
            .iter_mut()
            .find(|g| g.branch == branch && g.remote == *remote)
        else {
            return Vec::new();
        };
        group
            .lanes
            .values_mut()
            .filter(|(_, seen)| seen.as_deref() != tip)
            .map(|(lane, seen)| {
                *seen = tip.map(str::to_owned);
                lane.clone()
            })
            .collect()
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

    #[test]
    fn only_lanes_whose_last_read_differs_are_woken_once() {
        let b = Branches::default();
        let r = remote("https://git.example/a.git", "u");
        b.saw("ns/a", lane("a"), &r, "main", Some("c1".into()));
        b.saw("ns/b", lane("b"), &r, "main", Some("c2".into()));
        assert_eq!(b.snapshot().len(), 1, "one check for both lanes");
        assert_eq!(b.answered(&r, "main", Some("c2")), vec![lane("a")]);
        assert!(b.answered(&r, "main", Some("c2")).is_empty(), "told once");
        let mut failed = b.answered(&r, "main", None);
        failed.sort();
        assert_eq!(
            failed,
            vec![lane("a"), lane("b")],
            "a failure starting wakes both"
        );
    }

    #[test]
    fn another_access_is_another_check_and_a_lane_is_in_one_group() {
        let b = Branches::default();
        let (r1, r2) = (
            remote("https://git.example/a.git", "u"),
            remote("https://git.example/a.git", "other"),
        );
        b.saw("ns/a", lane("a"), &r1, "main", Some("c1".into()));
        b.saw("ns/b", lane("b"), &r2, "main", Some("c1".into()));
        assert_eq!(b.snapshot().len(), 2);
        // A never hears what b's credentials read.
        assert_eq!(b.answered(&r2, "main", Some("c9")), vec![lane("b")]);
        b.saw("ns/a", lane("a"), &r2, "main", Some("c9".into()));
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
