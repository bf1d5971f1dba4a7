//! Credentials and SSH host key policy. Nothing here prints a secret.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{KeyInit, Mac};

use crate::error::HostKeyProblem;
use crate::signing::SigningKey;
use crate::url::RepoUrl;

/// A secret string. `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for handing to libgit2 only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where an SSH private key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SshKeySource {
    /// A key file on disk (OpenSSH or PEM format).
    Path(PathBuf),
    /// The key itself (OpenSSH or PEM text), e.g. from a Kubernetes Secret.
    Memory(Secret),
}

impl fmt::Debug for SshKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Self::Memory(_) => f.write_str("Memory(***)"),
        }
    }
}

/// How to authenticate to a remote.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials; the server must allow anonymous access.
    #[default]
    Anonymous,
    /// HTTPS basic auth with a user name and password.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// HTTPS with an access token as the password.
    Token {
        /// The user name sent with the token; `x-access-token` when absent.
        username: Option<String>,
        /// The token.
        token: Secret,
    },
    /// SSH public key authentication.
    SshKey {
        /// The SSH user; the URL's user or `git` when absent.
        username: Option<String>,
        /// The private key.
        key: SshKeySource,
        /// The key's passphrase, if it is encrypted.
        passphrase: Option<Secret>,
    },
}

impl Credentials {
    /// The secret strings these credentials carry, so error text can be scrubbed of them.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Self::Anonymous => vec![],
            Self::Basic { password, .. } => vec![password.expose()],
            Self::Token { token, .. } => vec![token.expose()],
            Self::SshKey {
                key, passphrase, ..
            } => {
                let mut out = vec![];
                if let SshKeySource::Memory(k) = key {
                    out.push(k.expose());
                }
                if let Some(p) = passphrase {
                    out.push(p.expose());
                }
                out
            }
        }
    }

    /// A name for logs: the kind of credential, never its content.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Basic { .. } => "basic",
            Self::Token { .. } => "token",
            Self::SshKey { .. } => "ssh-key",
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Self::Token { username, .. } => f
                .debug_struct("Token")
                .field("username", username)
                .field("token", &"***")
                .finish(),
            Self::SshKey {
                username,
                key,
                passphrase,
            } => f
                .debug_struct("SshKey")
                .field("username", username)
                .field("key", key)
                .field("passphrase", &passphrase.as_ref().map(|_| "***"))
                .finish(),
        }
    }
}

/// One parsed known_hosts line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KnownHostLine {
    marker: Marker,
    hosts: HostPatterns,
    key: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPatterns {
    Plain(Vec<String>),
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

impl HostPatterns {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Plain(patterns) => {
                let mut matched = false;
                for p in patterns {
                    if let Some(neg) = p.strip_prefix('!') {
                        if wildcard(neg, name) {
                            return false;
                        }
                    } else if wildcard(p, name) {
                        matched = true;
                    }
                }
                matched
            }
            Self::Hashed { salt, hash } => {
                let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
        }
    }
}

/// known_hosts `*` and `?` matching, case-insensitive like OpenSSH.
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// A host key given outright, which is trusted for this repository's host alone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PinnedKey {
    /// The public key blob (from `ssh-ed25519 AAAA…`).
    Blob(Vec<u8>),
    /// A `SHA256:…` fingerprint as `ssh-keygen -lf` prints it.
    Sha256(Vec<u8>),
}

/// How SSH host keys are checked: strict known_hosts, plus optionally pinned keys.
/// An unknown or changed host key is always refused unless it matches a pinned key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostKeyPolicy {
    known_hosts: Vec<KnownHostLine>,
    pinned: Vec<PinnedKey>,
}

impl HostKeyPolicy {
    /// Parses known_hosts text (OpenSSH format, hashed entries included). Unparseable lines are
    /// skipped, as OpenSSH does.
    pub fn from_known_hosts(text: &str) -> Self {
        let mut policy = Self::default();
        policy.add_known_hosts(text);
        policy
    }

    /// Adds known_hosts text to the policy.
    pub fn add_known_hosts(&mut self, text: &str) {
        self.known_hosts
            .extend(text.lines().filter_map(parse_known_host_line));
    }

    /// Pins a host key: either a public key line (`ssh-ed25519 AAAA… [comment]`, optionally
    /// preceded by host patterns) or a `SHA256:…` fingerprint.
    pub fn pin(&mut self, key: &str) -> Result<(), crate::GitError> {
        let key = key.trim();
        let bad = || {
            crate::GitError::InvalidRequest(
                "pinned host key is neither a public key line nor a SHA256 fingerprint".into(),
            )
        };
        if let Some(fp) = key.strip_prefix("SHA256:") {
            let bytes = STANDARD_NO_PAD
                .decode(fp.trim_end_matches('='))
                .map_err(|_| bad())?;
            if bytes.len() != 32 {
                return Err(bad());
            }
            self.pinned.push(PinnedKey::Sha256(bytes));
            return Ok(());
        }
        let fields: Vec<&str> = key.split_whitespace().collect();
        let blob = fields
            .windows(2)
            .find(|w| is_key_type(w[0]))
            .and_then(|w| STANDARD.decode(w[1]).ok())
            .ok_or_else(bad)?;
        self.pinned.push(PinnedKey::Blob(blob));
        Ok(())
    }

    /// Hands every entry's bytes to `feed`, for the access digest.
    pub(crate) fn fingerprint_into(&self, feed: &mut dyn FnMut(&[u8])) {
        for line in &self.known_hosts {
            feed(match line.marker {
                Marker::None => b"line",
                Marker::Revoked => b"revoked",
                Marker::CertAuthority => b"ca",
            });
            match &line.hosts {
                HostPatterns::Plain(patterns) => {
                    feed(b"plain");
                    feed(&(patterns.len() as u64).to_le_bytes());
                    for p in patterns {
                        feed(p.as_bytes());
                    }
                }
                HostPatterns::Hashed { salt, hash } => {
                    feed(b"hashed");
                    feed(salt);
                    feed(hash);
                }
            }
            feed(&line.key);
        }
        for pin in &self.pinned {
            match pin {
                PinnedKey::Blob(_) => feed(b"pin-blob"),
                PinnedKey::Sha256(_) => feed(b"pin-sha256"),
            }
            feed(match pin {
                PinnedKey::Blob(b) | PinnedKey::Sha256(b) => b,
            });
        }
    }

    /// Whether any known_hosts line or pin is configured.
    pub fn is_empty(&self) -> bool {
        self.known_hosts.is_empty() && self.pinned.is_empty()
    }

    /// Checks the key a host presented. `name` is how known_hosts names it (`host` or
    /// `[host]:port`); `blob` is the raw public key; `sha256` its fingerprint.
    pub fn check(
        &self,
        name: &str,
        blob: Option<&[u8]>,
        sha256: Option<&[u8; 32]>,
    ) -> Result<(), HostKeyProblem> {
        if !self.pinned.is_empty() {
            let pinned = self.pinned.iter().any(|p| match p {
                PinnedKey::Blob(b) => blob == Some(b.as_slice()),
                PinnedKey::Sha256(h) => sha256.map(|s| s.as_slice()) == Some(h.as_slice()),
            });
            return if pinned {
                Ok(())
            } else {
                Err(HostKeyProblem::Changed)
            };
        }
        let Some(blob) = blob else {
            // Without the raw key there is nothing to compare with known_hosts.
            return Err(HostKeyProblem::Unknown);
        };
        let entries: Vec<&KnownHostLine> = self
            .known_hosts
            .iter()
            .filter(|l| l.marker != Marker::CertAuthority && l.hosts.matches(name))
            .collect();
        if entries
            .iter()
            .any(|l| l.marker == Marker::Revoked && l.key == blob)
        {
            return Err(HostKeyProblem::Revoked);
        }
        let trusted: Vec<&&KnownHostLine> = entries
            .iter()
            .filter(|l| l.marker == Marker::None)
            .collect();
        if trusted.iter().any(|l| l.key == blob) {
            Ok(())
        } else if trusted.is_empty() {
            Err(HostKeyProblem::Unknown)
        } else {
            Err(HostKeyProblem::Changed)
        }
    }
}

fn is_key_type(s: &str) -> bool {
    s.starts_with("ssh-") || s.starts_with("ecdsa-sha2-") || s.starts_with("sk-")
}

fn parse_known_host_line(line: &str) -> Option<KnownHostLine> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let key_type = fields.next()?;
    if !is_key_type(key_type) {
        return None;
    }
    let key = STANDARD.decode(fields.next()?).ok()?;
    let hosts = if let Some(hashed) = first.strip_prefix("|1|") {
        let (salt, hash) = hashed.split_once('|')?;
        HostPatterns::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        }
    } else {
        HostPatterns::Plain(first.split(',').map(str::to_string).collect())
    };
    Some(KnownHostLine { marker, hosts, key })
}

/// Where and how to reach a repository.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// The repository URL or path.
    pub url: RepoUrl,
    /// How to authenticate.
    pub credentials: Credentials,
    /// How SSH host keys are verified (ignored for other transports).
    pub host_keys: HostKeyPolicy,
    /// The key every commit pushed here is signed with; unsigned commits when absent.
    pub signing: Option<SigningKey>,
}

impl RemoteSpec {
    /// A remote with anonymous access and no trusted SSH hosts. Refuses URLs with a query
    /// string or a fragment, and URLs that carry credentials (an HTTP(S) user or token, or any
    /// password): those belong in the lane's Secret. An SSH user (`ssh://git@host/…`,
    /// `git@host:…`) is fine.
    pub fn new(url: &str) -> Result<Self, crate::GitError> {
        let url = RepoUrl::parse(url)?;
        url.check_remote()?;
        Ok(Self {
            url,
            credentials: Credentials::Anonymous,
            host_keys: HostKeyPolicy::default(),
            signing: None,
        })
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Signs every commit made for this remote with `key`.
    pub fn with_signing(mut self, key: SigningKey) -> Self {
        self.signing = Some(key);
        self
    }

    /// Sets the SSH host key policy.
    pub fn with_host_keys(mut self, host_keys: HostKeyPolicy) -> Self {
        self.host_keys = host_keys;
        self
    }

    /// Replaces the raw URL and every secret in a message with something printable.
    pub(crate) fn scrub(&self, message: &str) -> String {
        let mut out = message.replace(self.url.raw(), &self.url.to_string());
        for secret in self
            .credentials
            .secrets()
            .into_iter()
            .chain(self.url.password())
        {
            if !secret.is_empty() {
                out = out.replace(secret, "***");
            }
        }
        crate::url::strip_userinfo(&out)
    }
}

impl fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSpec")
            .field("url", &self.url)
            .field("credentials", &self.credentials)
            .field("known_hosts_entries", &self.host_keys.known_hosts.len())
            .field("pinned_host_keys", &self.host_keys.pinned.len())
            .field("signing", &self.signing)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBbYq2E9Y3B0ZEmsCS1OTa0jWvdYMTu/cBQZFaP0FYx9";

    fn blob(b64: &str) -> Vec<u8> {
        STANDARD.decode(b64).expect("test key is base64")
    }

    #[test]
    fn debug_never_shows_secrets() {
        let creds = [
            Credentials::Basic {
                username: "u".into(),
                password: Secret::new("hunter2"),
            },
            Credentials::Token {
                username: None,
                token: Secret::new("ghp_tok"),
            },
            Credentials::SshKey {
                username: None,
                key: SshKeySource::Memory(Secret::new("-----BEGIN KEY-----")),
                passphrase: Some(Secret::new("pass-phrase")),
            },
        ];
        for c in creds {
            let text = format!("{c:?}");
            for s in ["hunter2", "ghp_tok", "BEGIN KEY", "pass-phrase"] {
                assert!(!text.contains(s), "{text}");
            }
        }
    }

    #[test]
    fn known_hosts_with_port_and_change() {
        let policy = HostKeyPolicy::from_known_hosts(&format!(
            "# c\n[127.0.0.1]:2222 ssh-ed25519 {KEY_A} host\n"
        ));
        assert_eq!(
            policy.check("[127.0.0.1]:2222", Some(&blob(KEY_A)), None),
            Ok(())
        );
        assert_eq!(
            policy.check("[127.0.0.1]:2222", Some(&blob(KEY_B)), None),
            Err(HostKeyProblem::Changed)
        );
        assert_eq!(
            policy.check("127.0.0.1", Some(&blob(KEY_A)), None),
            Err(HostKeyProblem::Unknown)
        );
        assert_eq!(
            policy.check("[127.0.0.1]:2223", Some(&blob(KEY_A)), None),
            Err(HostKeyProblem::Unknown)
        );
    }

    #[test]
    fn hashed_entries_match() {
        // Hash of "[127.0.0.1]:2222" computed the way `ssh-keygen -H` does it.
        let salt = [7u8; 20];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt).expect("any key length");
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY_A}",
            STANDARD.encode(salt),
            STANDARD.encode(hash)
        );
        let policy = HostKeyPolicy::from_known_hosts(&line);
        assert_eq!(
            policy.check("[127.0.0.1]:2222", Some(&blob(KEY_A)), None),
            Ok(())
        );
        assert_eq!(
            policy.check("[127.0.0.1]:2223", Some(&blob(KEY_A)), None),
            Err(HostKeyProblem::Unknown)
        );
    }

    #[test]
    fn patterns_negation_and_revocation() {
        let text = format!(
            "*.example.com,!bad.example.com ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_B}\n"
        );
        let policy = HostKeyPolicy::from_known_hosts(&text);
        assert_eq!(
            policy.check("git.example.com", Some(&blob(KEY_A)), None),
            Ok(())
        );
        assert_eq!(
            policy.check("bad.example.com", Some(&blob(KEY_A)), None),
            Err(HostKeyProblem::Unknown)
        );
        assert_eq!(
            policy.check("git.example.com", Some(&blob(KEY_B)), None),
            Err(HostKeyProblem::Revoked)
        );
    }

    #[test]
    fn pinned_key_overrides_known_hosts() {
        let mut policy = HostKeyPolicy::default();
        assert_eq!(
            policy.check("h", Some(&blob(KEY_A)), None),
            Err(HostKeyProblem::Unknown)
        );
        policy
            .pin(&format!("ssh-ed25519 {KEY_A} comment"))
            .expect("valid pin");
        assert_eq!(policy.check("h", Some(&blob(KEY_A)), None), Ok(()));
        assert_eq!(
            policy.check("h", Some(&blob(KEY_B)), None),
            Err(HostKeyProblem::Changed)
        );
        let mut fp = HostKeyPolicy::default();
        let digest = [9u8; 32];
        fp.pin(&format!("SHA256:{}", STANDARD_NO_PAD.encode(digest)))
            .expect("valid fingerprint");
        assert_eq!(fp.check("h", None, Some(&digest)), Ok(()));
        assert!(fp.pin("nonsense").is_err());
    }

    #[test]
    fn urls_with_credentials_queries_or_fragments_are_refused() {
        for (url, secret) in [
            ("https://ghp_tok123@git.example.com/r.git", "ghp_tok123"),
            ("https://bot:pw-123@git.example.com/r.git", "pw-123"),
            ("http://bot@127.0.0.1:8080/git/r.git", "bot"),
            ("ssh://git:pw-456@git.example.com/r.git", "pw-456"),
        ] {
            let err = RemoteSpec::new(url).expect_err(url);
            assert_eq!(err.category(), "invalid_request", "{url}");
            let text = err.to_string();
            assert!(text.contains("Secret"), "{text}");
            assert!(!text.contains(secret), "{text}");
        }
        for (url, secret) in [
            (
                "https://git.example.com/r.git?private_token=tok-789",
                "tok-789",
            ),
            ("https://git.example.com/r.git#tok-789", "tok-789"),
            ("ssh://git@git.example.com/r.git?x=tok-789", "tok-789"),
        ] {
            let err = RemoteSpec::new(url).expect_err(url);
            let text = err.to_string();
            assert!(
                text.contains("query") || text.contains("fragment"),
                "{text}"
            );
            assert!(!text.contains(secret), "{text}");
        }
        for url in [
            "ssh://git@git.example.com:2222/r.git",
            "git@github.com:org/r.git",
            "https://git.example.com/org/r.git",
            "/srv/git/r.git",
            "file:///srv/git/r.git",
        ] {
            RemoteSpec::new(url).expect(url);
        }
    }

    #[test]
    fn scrub_removes_secrets_and_userinfo() {
        // Built by hand: `RemoteSpec::new` refuses credentials in the URL.
        let spec = RemoteSpec {
            url: RepoUrl::parse("https://bot:pw-123@h/r.git").expect("parses"),
            credentials: Credentials::Token {
                username: None,
                token: Secret::new("tok-456"),
            },
            host_keys: HostKeyPolicy::default(),
            signing: None,
        };
        let msg = spec.scrub("GET https://bot:pw-123@h/r.git failed; sent tok-456");
        assert_eq!(msg, "GET https://h/r.git failed; sent ***");
    }
}
