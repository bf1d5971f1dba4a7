//! Which of an Application's sources is a lane's repository. A multi-source Application
//! reports one synced revision per source; the lane's is the one at its repository's
//! position, never simply the first.

use crate::{Application, SyncStatus};

/// Whether two repository URLs name the same repository: scheme, user, a trailing `/` or
/// `.git` and the host's case do not matter, and `git@host:path` equals `ssh://git@host/path`.
pub fn same_repository(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

fn canonical(url: &str) -> String {
    let url = url.trim();
    let (rest, scp) = match url.split_once("://") {
        Some((_, rest)) => (rest, false),
        None => (url, true),
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (host, path) = if scp {
        rest.split_once(':').unwrap_or((rest, ""))
    } else {
        rest.split_once('/').unwrap_or((rest, ""))
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    format!("{}/{}", host.to_ascii_lowercase(), path)
}

impl Application {
    /// The position of the source whose `repoURL` is `repo_url`; None when no source or more
    /// than one is.
    pub fn source_index(&self, repo_url: &str) -> Option<usize> {
        let mut matching = self.sources.iter().enumerate().filter(|(_, s)| {
            s.repo_url
                .as_deref()
                .is_some_and(|u| same_repository(u, repo_url))
        });
        match (matching.next(), matching.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    /// The revision Argo CD last compared `repo_url` at: the Application's revision when it
    /// has one source from that repository (or names none), the revision at that source's
    /// position when it has several. None when the repository is not one of its sources.
    pub fn revision_for(&self, repo_url: &str) -> Option<&str> {
        if self.sources.len() <= 1 {
            let other_repository = self
                .sources
                .first()
                .and_then(|s| s.repo_url.as_deref())
                .is_some_and(|u| !same_repository(u, repo_url));
            return (!other_repository)
                .then_some(self.sync_revision.as_deref())
                .flatten();
        }
        let i = self.source_index(repo_url)?;
        self.sync_revisions.get(i).map(String::as_str)
    }

    /// [`Application::revision_for`], when the Application is Synced.
    pub fn synced_revision_for(&self, repo_url: &str) -> Option<&str> {
        (self.sync_status == SyncStatus::Synced)
            .then(|| self.revision_for(repo_url))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LANE: &str = "https://git.example.com/platform/web-core.git";

    #[test]
    fn the_same_repository_however_it_is_written() {
        for same in [
            "https://git.example.com/platform/web-core",
            "https://Git.Example.com/platform/web-core/",
            "http://user@git.example.com/platform/web-core.git",
        ] {
            assert!(same_repository(LANE, same), "{same}");
        }
        assert!(same_repository(
            "git@git.example.com:platform/web-core.git",
            "ssh://git@git.example.com/platform/web-core"
        ));
        for other in [
            "https://git.example.com/platform/web-core-charts.git",
            "https://git.example.org/platform/web-core.git",
            "https://git.example.com/other/web-core.git",
        ] {
            assert!(!same_repository(LANE, other), "{other}");
        }
    }

    fn multi(revisions: serde_json::Value) -> Application {
        Application::from_json(&json!({
            "metadata": {"name": "web-prod", "namespace": "argocd"},
            "spec": {"sources": [
                {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.0.0"},
                {"repoURL": "https://git.example.com/platform/web-core", "path": "deploy", "targetRevision": "main"},
            ]},
            "status": {"sync": {"status": "Synced", "revisions": revisions}}
        }))
        .expect("parses")
    }

    #[test]
    fn a_multi_source_application_reports_the_lanes_source_not_the_first() {
        let app = multi(json!(["1.0.0", "4f2e1c0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"]));
        assert_eq!(app.source_index(LANE), Some(1));
        assert_eq!(
            app.synced_revision_for(LANE),
            Some("4f2e1c0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d")
        );
        assert_eq!(
            app.revision_for("https://git.example.com/unrelated.git"),
            None
        );
        // Fewer revisions than sources: unknown, not a neighbour's.
        assert_eq!(multi(json!(["1.0.0"])).revision_for(LANE), None);
    }

    #[test]
    fn a_single_source_application_from_another_repository_says_nothing() {
        let app = Application::from_json(&json!({
            "metadata": {"name": "web-prod", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://git.example.com/else.git"}},
            "status": {"sync": {"status": "Synced", "revision": "abc"}}
        }))
        .expect("parses");
        assert_eq!(app.synced_revision_for(LANE), None);
        assert_eq!(
            app.synced_revision_for("https://git.example.com/else"),
            Some("abc")
        );
    }
}
