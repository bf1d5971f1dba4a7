//! Who is asking: an opaque digest of a remote's URL, credentials and host-key policy, so the
//! engine never answers, batches or pushes one lane's request with another lane's access.
//!
//! The digest is keyed with a random per-process key and never leaves memory: it is not
//! printed, logged or shown by `Debug`, so it cannot be used to guess a password offline.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::auth::{Credentials, RemoteSpec, SshKeySource};

/// The access a request is made with. Two specs with equal ids reach the same repository with
/// the same credentials and trust the same host keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AccessId([u8; 32]);

impl std::fmt::Debug for AccessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessId(..)")
    }
}

fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        // std's RandomState is seeded from the operating system's randomness.
        let mut key = [0_u8; 32];
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default(),
            );
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        key
    })
}

/// Feeds length-prefixed fields, so no two different specs give the same input.
struct Feed(hmac::Hmac<Sha256>);

impl Feed {
    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    fn opt(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.field(b"some").field(v.as_bytes()),
            None => self.field(b"none"),
        }
    }
}

impl RemoteSpec {
    /// The access this spec makes requests with.
    pub(crate) fn access(&self) -> AccessId {
        let Ok(mac) = hmac::Hmac::<Sha256>::new_from_slice(process_key()) else {
            // HMAC takes keys of any length; this branch is never taken.
            return AccessId([0; 32]);
        };
        let mut feed = Feed(mac);
        feed.field(self.url.raw().as_bytes())
            .field(self.credentials.kind().as_bytes());
        match &self.credentials {
            Credentials::Anonymous => {}
            Credentials::Basic { username, password } => {
                feed.field(username.as_bytes())
                    .field(password.expose().as_bytes());
            }
            Credentials::Token { username, token } => {
                feed.opt(username.as_deref())
                    .field(token.expose().as_bytes());
            }
            Credentials::SshKey {
                username,
                key,
                passphrase,
            } => {
                feed.opt(username.as_deref());
                match key {
                    SshKeySource::Path(path) => {
                        feed.field(b"path")
                            .field(path.as_os_str().as_encoded_bytes());
                    }
                    SshKeySource::Memory(pem) => {
                        feed.field(b"memory").field(pem.expose().as_bytes());
                    }
                }
                feed.opt(passphrase.as_ref().map(|p| p.expose()));
            }
        }
        self.host_keys.fingerprint_into(&mut |bytes| {
            feed.field(bytes);
        });
        AccessId(feed.0.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::{Credentials, HostKeyPolicy, RemoteSpec, Secret};

    fn basic(url: &str, password: &str) -> RemoteSpec {
        RemoteSpec::new(url)
            .expect("url")
            .with_credentials(Credentials::Basic {
                username: "bot".into(),
                password: Secret::new(password),
            })
    }

    #[test]
    fn access_differs_by_secret_url_and_host_keys_and_is_never_printed() {
        let a = basic("https://h/r.git", "one");
        assert_eq!(a.access(), basic("https://h/r.git", "one").access());
        assert_ne!(a.access(), basic("https://h/r.git", "two").access());
        assert_ne!(a.access(), basic("https://h/other.git", "one").access());
        let pinned = a.clone().with_host_keys(HostKeyPolicy::from_known_hosts(
            "h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        ));
        assert_ne!(a.access(), pinned.access());
        assert_eq!(format!("{:?}", a.access()), "AccessId(..)");
        let ssh_users = [
            RemoteSpec::new("ssh://git@h/r.git").expect("url"),
            RemoteSpec::new("ssh://deploy@h/r.git").expect("url"),
        ];
        assert_ne!(ssh_users[0].access(), ssh_users[1].access());
    }
}
