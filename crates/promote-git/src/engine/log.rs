//! The deployment log a lane may keep in the repository (`PromotionRequest::log_file`): one
//! Markdown entry per commit of the lane, written in the same commit, newest first below the
//! file's title, so Git itself holds the release notes.

use std::collections::BTreeMap;

use crate::GitError;
use crate::message::Moved;
use crate::path::RepoPath;
use crate::request::ChangeInfo;
use crate::tree;

use super::evaluate::Read;

/// The title a new log starts with.
const TITLE: &str = "# Deployment log\n";
/// A regular, non-executable file.
const MODE_BLOB: i32 = 0o100_644;

/// One entry: what moved, who approved and why, and the source commits it brings.
pub(super) fn entry(moved: &Moved, changes: &[ChangeInfo], at: &str) -> String {
    let versions: Vec<String> = moved
        .fields
        .iter()
        .map(|(field, from, to)| format!("{field} {from} -> {to}"))
        .collect();
    let mut out = format!(
        "## {}: {} ({} -> {}), {at}\n\n",
        moved.app,
        versions.join(", "),
        moved.source_env,
        moved.target_env
    );
    out.push_str(&format!("- lane: {}\n", moved.promotion));
    match (&moved.approved_by, &moved.note) {
        (Some(by), Some(note)) => {
            out.push_str(&format!("- approved by {by}: {}\n", one_line(note)))
        }
        (Some(by), None) => out.push_str(&format!("- approved by {by}\n")),
        (None, _) => out.push_str("- automatic\n"),
    }
    if !changes.is_empty() {
        let since = moved
            .fields
            .first()
            .map_or("", |(_, from, _)| from.as_str());
        out.push_str(&format!("- changes in {} since {since}:\n", moved.source));
        for c in changes {
            out.push_str(&format!(
                "  - {} {} ({})\n",
                c.commit.short(),
                one_line(&c.summary),
                one_line(&c.author)
            ));
        }
    }
    out.push('\n');
    out
}

/// `content` with `entry` inserted after its title (the first line, when it is a `# ` heading
/// followed by a blank line or the entries), or a new log when there is none yet.
pub(super) fn insert(content: Option<&[u8]>, entry: &str) -> Vec<u8> {
    let text = content.map(String::from_utf8_lossy).unwrap_or_default();
    if text.trim().is_empty() {
        return format!("{TITLE}\n{entry}").into_bytes();
    }
    let (head, rest) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => {
            let rest = rest.strip_prefix('\n').unwrap_or(rest);
            (format!("{first}\n\n"), rest.to_owned())
        }
        _ => (String::new(), text.into_owned()),
    };
    format!("{head}{entry}{rest}").into_bytes()
}

/// Adds `entry` to the log at `path`, as the overlay of this commit holds it or the tree has it.
pub(super) fn append(
    read: &Read<'_>,
    overlay: &mut BTreeMap<RepoPath, (Vec<u8>, i32)>,
    path: &RepoPath,
    entry: &str,
) -> Result<(), GitError> {
    let (content, mode) = match overlay.get(path) {
        Some((content, mode)) => (Some(content.clone()), *mode),
        None => match tree::lookup(read.repo, read.root, path, read.name)? {
            Some(_) => {
                let (content, mode) = read.file(path)?;
                (Some(content), mode)
            }
            None => (None, MODE_BLOB),
        },
    };
    let updated = insert(content.as_deref(), entry);
    overlay.insert(path.clone(), (updated, mode));
    Ok(())
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved() -> Moved {
        Moved {
            promotion: "web/web-prod".into(),
            app: "web".into(),
            source: "deploy/env/release-dev/web.yaml".into(),
            source_env: "dev".into(),
            target: "deploy/env/release-prod/web.yaml".into(),
            target_env: "prod".into(),
            fields: vec![("image.tag".into(), "sha-1".into(), "sha-2".into())],
            approved_by: Some("oncall-lead".into()),
            note: Some("fixes the login\nredirect".into()),
        }
    }

    #[test]
    fn an_entry_says_what_moved_who_approved_and_which_commits() {
        let change = ChangeInfo {
            commit: crate::request::CommitId::from_oid(
                git2::Oid::from_str("3f2a9c1d0e4b5a6978877665544332211ffeeddc").expect("oid"),
            ),
            author: "CI".into(),
            summary: "ci: release sha-2".into(),
        };
        let e = entry(&moved(), &[change], "2026-12-02T02:40:00Z");
        assert_eq!(
            e,
            "## web: image.tag sha-1 -> sha-2 (dev -> prod), 2026-12-02T02:40:00Z\n\n\
             - lane: web/web-prod\n\
             - approved by oncall-lead: fixes the login redirect\n\
             - changes in deploy/env/release-dev/web.yaml since sha-1:\n  \
             - 3f2a9c1d0e4b ci: release sha-2 (CI)\n\n"
        );
    }

    #[test]
    fn entries_go_newest_first_below_the_title() {
        let first = insert(None, "## one\n\n");
        assert_eq!(
            String::from_utf8_lossy(&first),
            "# Deployment log\n\n## one\n\n"
        );
        let second = insert(Some(&first), "## two\n\n");
        assert_eq!(
            String::from_utf8_lossy(&second),
            "# Deployment log\n\n## two\n\n## one\n\n"
        );
        let untitled = insert(Some(b"notes kept by hand\n"), "## three\n\n");
        assert_eq!(
            String::from_utf8_lossy(&untitled),
            "## three\n\nnotes kept by hand\n"
        );
    }
}
