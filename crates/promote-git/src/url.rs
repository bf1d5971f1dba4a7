//! Repository locations: parsing, printing without userinfo, the cache key, the SSH host.

use std::fmt;

use sha2::{Digest, Sha256};

/// How the engine talks to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A path on this machine (or a `file://` URL).
    Local,
    /// Smart HTTP or HTTPS.
    Http,
    /// SSH, either `ssh://` or the scp-like `user@host:path`.
    Ssh,
    /// The unauthenticated `git://` protocol.
    Git,
}

/// A repository URL or path. `Display` never shows userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    raw: String,
    display: String,
    transport: Transport,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<String>,
}

impl RepoUrl {
    /// Parses a URL (`https://`, `http://`, `ssh://`, `git://`, `file://`), an scp-like
    /// `user@host:path`, or a local path.
    pub fn parse(raw: &str) -> Result<Self, crate::GitError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(crate::GitError::InvalidRequest(
                "the repository URL is empty".into(),
            ));
        }
        if raw.contains("://") {
            let parsed = url::Url::parse(raw).map_err(|e| {
                crate::GitError::InvalidRequest(format!(
                    "invalid repository URL {}: {e}",
                    strip_userinfo(raw)
                ))
            })?;
            let transport = match parsed.scheme() {
                "http" | "https" => Transport::Http,
                "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
                "git" => Transport::Git,
                "file" => Transport::Local,
                other => {
                    return Err(crate::GitError::InvalidRequest(format!(
                        "unsupported URL scheme {other:?}"
                    )));
                }
            };
            let mut clean = parsed.clone();
            // Infallible for URLs with a host; file URLs have no userinfo to clear.
            let _ = clean.set_username("");
            let _ = clean.set_password(None);
            let username = (!parsed.username().is_empty()).then(|| parsed.username().to_string());
            return Ok(Self {
                raw: raw.to_string(),
                display: clean.to_string(),
                transport,
                host: parsed
                    .host_str()
                    .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string()),
                port: parsed.port(),
                username,
                password: parsed.password().map(str::to_string),
            });
        }
        if let Some((userhost, path)) = scp_like(raw) {
            let (username, host) = match userhost.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()), h.to_string()),
                None => (None, userhost.to_string()),
            };
            return Ok(Self {
                raw: raw.to_string(),
                display: format!("{host}:{path}"),
                transport: Transport::Ssh,
                host: Some(host),
                port: None,
                username,
                password: None,
            });
        }
        Ok(Self {
            raw: raw.to_string(),
            display: raw.to_string(),
            transport: Transport::Local,
            host: None,
            port: None,
            username: None,
            password: None,
        })
    }

    /// Refuses what a repository URL for a lane must not carry: a query string or fragment
    /// (tokens hide there), credentials of an HTTP(S) URL, and a password in any URL. The
    /// message never repeats the refused parts.
    pub(crate) fn check_remote(&self) -> Result<(), crate::GitError> {
        let refuse = |what: &str| {
            Err(crate::GitError::InvalidRequest(format!(
                "the repository URL {} {what}",
                self.display_without_extras()
            )))
        };
        if self.password.is_some() || (self.transport == Transport::Http && self.username.is_some())
        {
            return refuse(
                "carries credentials; put them in the lane's Secret (username and password, or token) and use the URL without them",
            );
        }
        if self.raw.contains("://")
            && let Ok(parsed) = url::Url::parse(&self.raw)
            && (parsed.query().is_some() || parsed.fragment().is_some())
        {
            return refuse(
                "has a query string or a fragment; give the plain repository URL (credentials go in the lane's Secret)",
            );
        }
        Ok(())
    }

    /// The printable URL without query or fragment.
    fn display_without_extras(&self) -> String {
        let end = self.display.find(['?', '#']).unwrap_or(self.display.len());
        self.display[..end].to_string()
    }

    /// The URL exactly as given, for libgit2 only. Never print it.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// A password embedded in the URL, so error text can be scrubbed of it.
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The directory of a local repository (a path or a `file://` URL).
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        if self.transport != Transport::Local {
            return None;
        }
        match url::Url::parse(&self.raw) {
            Ok(u) if u.scheme() == "file" => u.to_file_path().ok(),
            _ => Some(std::path::PathBuf::from(&self.raw)),
        }
    }

    /// How the repository is reached.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The host name, for network URLs.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The explicit port, if the URL names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The user name in the URL (`git` in `ssh://git@host/repo`).
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Where the engine connects, for messages: `host` or `host:port`, never userinfo; the
    /// printable URL for a local repository.
    pub(crate) fn endpoint(&self) -> String {
        match (self.host.as_deref(), self.port) {
            (Some(host), Some(port)) if host.contains(':') => format!("[{host}]:{port}"),
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => self.display.clone(),
        }
    }

    /// How known_hosts names this host: `host` on port 22, `[host]:port` otherwise.
    pub fn known_hosts_name(&self) -> Option<String> {
        let host = self.host.as_deref()?;
        Some(match self.port {
            Some(port) if port != 22 => format!("[{host}]:{port}"),
            _ => host.to_string(),
        })
    }

    /// A stable directory name for this repository's cache: readable prefix plus a hash of the
    /// URL without userinfo (so a credential change keeps the cache).
    pub fn cache_key(&self) -> String {
        // The same relative path from two directories names two repositories.
        let identity = match self.local_path().and_then(|p| p.canonicalize().ok()) {
            Some(abs) => abs.to_string_lossy().into_owned(),
            None => self.display.clone(),
        };
        let digest = Sha256::digest(identity.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let tail = self
            .display
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("repo")
            .trim_end_matches(".git");
        let name: String = tail
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        format!("{}-{hex}", if name.is_empty() { "repo" } else { &name })
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoUrl({:?})", self.display)
    }
}

/// `user@host:path` with no slash before the colon, and not a Windows drive letter.
fn scp_like(raw: &str) -> Option<(&str, &str)> {
    let colon = raw.find(':')?;
    if let Some(slash) = raw.find('/')
        && slash < colon
    {
        return None;
    }
    let (userhost, path) = (&raw[..colon], &raw[colon + 1..]);
    if userhost.len() <= 1 || path.is_empty() {
        return None;
    }
    Some((userhost, path))
}

/// Removes `user:password@` from every `scheme://user:password@host` in a text.
pub(crate) fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => rest = &tail[at + 1..],
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_userinfo_is_never_displayed() {
        let url = RepoUrl::parse("https://bot:s3cret@git.example.com/platform/web-core.git")
            .expect("parses");
        assert_eq!(
            url.to_string(),
            "https://git.example.com/platform/web-core.git"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.transport(), Transport::Http);
        assert_eq!(url.username(), Some("bot"));
    }

    #[test]
    fn ssh_forms_give_known_hosts_names() {
        let url = RepoUrl::parse("ssh://git@127.0.0.1:2222/srv/repo.git").expect("parses");
        assert_eq!(url.known_hosts_name().as_deref(), Some("[127.0.0.1]:2222"));
        assert_eq!(url.username(), Some("git"));
        let scp = RepoUrl::parse("git@github.com:org/repo.git").expect("parses");
        assert_eq!(scp.transport(), Transport::Ssh);
        assert_eq!(scp.known_hosts_name().as_deref(), Some("github.com"));
        assert_eq!(scp.to_string(), "github.com:org/repo.git");
        let default_port = RepoUrl::parse("ssh://git@example.com:22/r").expect("parses");
        assert_eq!(
            default_port.known_hosts_name().as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn endpoints_name_host_and_port_only() {
        let endpoint = |u: &str| RepoUrl::parse(u).expect("parses").endpoint();
        assert_eq!(
            endpoint("https://bot:pw@h.example:8443/r.git"),
            "h.example:8443"
        );
        assert_eq!(endpoint("ssh://git@[::1]:2222/r.git"), "[::1]:2222");
        assert_eq!(endpoint("git@github.com:org/r.git"), "github.com");
    }

    #[test]
    fn local_paths_stay_local() {
        for p in ["/srv/git/repo.git", "./repo", "relative/dir"] {
            assert_eq!(
                RepoUrl::parse(p).expect("parses").transport(),
                Transport::Local,
                "{p}"
            );
        }
    }

    #[test]
    fn file_urls_and_paths_name_a_directory() {
        let file = RepoUrl::parse("file:///srv/git/web-core.git").expect("parses");
        assert_eq!(file.transport(), Transport::Local);
        assert_eq!(
            file.local_path(),
            Some(std::path::PathBuf::from("/srv/git/web-core.git"))
        );
        let path = RepoUrl::parse("/srv/git/web-core.git").expect("parses");
        assert_eq!(
            path.local_path(),
            Some(std::path::PathBuf::from("/srv/git/web-core.git"))
        );
        assert_eq!(
            RepoUrl::parse("https://h/r.git")
                .expect("parses")
                .local_path(),
            None
        );
    }

    #[test]
    fn cache_key_ignores_credentials() {
        let a = RepoUrl::parse("https://a:one@h/x/web-core.git").expect("parses");
        let b = RepoUrl::parse("https://b:two@h/x/web-core.git").expect("parses");
        assert_eq!(a.cache_key(), b.cache_key());
        assert!(a.cache_key().starts_with("web-core-"));
        let c = RepoUrl::parse("https://h/y/web-core.git").expect("parses");
        assert_ne!(a.cache_key(), c.cache_key());
    }

    #[test]
    fn strip_userinfo_in_free_text() {
        assert_eq!(
            strip_userinfo("failed for 'https://u:p@h:8080/r.git' and http://x@y/z"),
            "failed for 'https://h:8080/r.git' and http://y/z"
        );
    }
}
