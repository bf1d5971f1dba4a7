//! Repository-relative paths that cannot escape the repository or reach into `.git`.

use std::fmt;

use crate::GitError;

/// A validated path of a file inside the repository: relative, `/`-separated, no `.` or `..`
/// components, no empty components, nothing named `.git` (any case), no backslashes or NULs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath {
    components: Vec<String>,
    text: String,
}

impl RepoPath {
    /// Validates a path.
    pub fn parse(path: &str) -> Result<Self, GitError> {
        let refuse = |reason: &str| {
            Err(GitError::InvalidPath {
                path: path.to_string(),
                reason: reason.to_string(),
            })
        };
        if path.is_empty() {
            return refuse("the path is empty");
        }
        if path.starts_with('/') {
            return refuse(
                "absolute paths are not allowed; give a path relative to the repository root",
            );
        }
        if path.contains('\\') {
            return refuse("backslashes are not allowed; use '/' between directories");
        }
        if path.contains('\0') {
            return refuse("NUL bytes are not allowed");
        }
        let mut components = Vec::new();
        for c in path.split('/') {
            match c {
                "" => return refuse("empty path component (leading, trailing or doubled '/')"),
                "." => return refuse("'.' components are not allowed"),
                ".." => return refuse("'..' components would leave the repository"),
                _ if is_dot_git(c) => return refuse("nothing under .git may be read or written"),
                _ => components.push(c.to_string()),
            }
        }
        Ok(Self {
            components,
            text: path.to_string(),
        })
    }

    /// The path's components, root first.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The file name without its extension (`synestra-io` for `deploy/env/release-prod/synestra-io.yaml`).
    pub fn stem(&self) -> &str {
        let name = self
            .components
            .last()
            .map(String::as_str)
            .unwrap_or_default();
        name.rsplit_once('.')
            .map_or(name, |(stem, _)| if stem.is_empty() { name } else { stem })
    }
}

/// `.git` in any case, and the forms that filesystems fold into it (trailing dots or spaces).
fn is_dot_git(component: &str) -> bool {
    component
        .trim_end_matches(['.', ' '])
        .eq_ignore_ascii_case(".git")
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        let p = RepoPath::parse("deploy/env/release-prod/synestra-io.yaml").expect("valid");
        assert_eq!(p.components().len(), 4);
        assert_eq!(p.stem(), "synestra-io");
        assert_eq!(
            RepoPath::parse(".hidden/values.yaml")
                .expect("valid")
                .stem(),
            "values"
        );
        assert_eq!(RepoPath::parse("a/.env").expect("valid").stem(), ".env");
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "",
            "/etc/passwd",
            "../x.yaml",
            "deploy/../../x.yaml",
            "deploy/./x.yaml",
            ".git/config",
            "a/.GIT/hooks/pre-commit",
            ".git",
            ".git./x",
            "a//b.yaml",
            "a/b.yaml/",
            "a\\b.yaml",
            "a\0b",
        ] {
            let err = RepoPath::parse(bad).expect_err(bad);
            assert_eq!(err.category(), "invalid_path", "{bad}");
        }
    }

    #[test]
    fn similar_names_are_fine() {
        for ok in [
            ".github/workflows/x.yaml",
            ".gitignore",
            "a/..b/c",
            "a/b..yaml",
        ] {
            RepoPath::parse(ok).expect(ok);
        }
    }
}
