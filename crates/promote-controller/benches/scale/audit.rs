//! The repositories after the wave: every promoted prod file holds the new tag, nothing else
//! changed, no merge commits.

use std::collections::HashMap;

use promote_gitserver::BareRepo;

use crate::Res;
use crate::fixtures::{Lane, NEW_TAG, OLD_TAG, release};

/// Commits the operator made, merges, lost and stray updates.
#[derive(Debug, Default)]
pub struct Audit {
    pub commits: usize,
    pub merges: usize,
    pub lost: Vec<String>,
    pub stray: Vec<String>,
}

impl Audit {
    /// An error naming what is wrong, if anything is.
    pub fn verdict(&self) -> Res<()> {
        if !self.lost.is_empty() || !self.stray.is_empty() || self.merges > 0 {
            return Err(format!(
                "the repositories are wrong: lost {:?}, stray {:?}, {} merges",
                self.lost, self.stray, self.merges
            )
            .into());
        }
        Ok(())
    }
}

/// Audits `repos` (of `apps` lanes each) after `wave`, whose CI commits are `ci` by repository.
pub fn audit(
    repos: &[BareRepo],
    ci: &HashMap<usize, String>,
    wave: &[Lane],
    apps: usize,
) -> Res<Audit> {
    let mut audit = Audit::default();
    for (r, repo) in repos.iter().enumerate() {
        audit.merges += repo.merge_count("main")?;
        let in_wave: Vec<Lane> = wave.iter().copied().filter(|l| l.repo == r).collect();
        if let Some(ci) = ci.get(&r) {
            let before = repo.commits(ci)?;
            let wave_files: Vec<String> = in_wave.iter().map(|l| l.file("prod")).collect();
            for commit in repo
                .commits("main")?
                .into_iter()
                .filter(|c| !before.contains(c))
            {
                audit.commits += 1;
                for file in repo.changed_files(&commit)? {
                    if !wave_files.contains(&file) {
                        audit
                            .stray
                            .push(format!("{}: {commit} changed {file}", repo.name()));
                    }
                }
            }
        }
        for app in 0..apps {
            let lane = Lane { repo: r, app };
            let want = if in_wave.contains(&lane) {
                NEW_TAG
            } else {
                OLD_TAG
            };
            let prod = repo.read_file("main", &lane.file("prod"))?;
            if prod.as_deref() != Some(release(want).as_str()) {
                let what = format!("{}: {:?}", lane.file("prod"), prod);
                if want == NEW_TAG {
                    audit.lost.push(what);
                } else {
                    audit.stray.push(what);
                }
            }
        }
    }
    Ok(audit)
}
