//! Credentials from a key → bytes map with the key names of the operator's Secret, so the
//! operator and the CLI read credentials the same way.

use std::collections::BTreeMap;

use crate::auth::{Credentials, HostKeyPolicy, RemoteSpec, Secret, SshKeySource};

/// Secret key: an HTTPS access token, sent as the password.
pub const SECRET_TOKEN: &str = "token";
/// Secret key: the user name for a token, basic auth or SSH.
pub const SECRET_USERNAME: &str = "username";
/// Secret key: the HTTPS basic-auth password (with [`SECRET_USERNAME`]).
pub const SECRET_PASSWORD: &str = "password";
/// Secret key: an SSH private key (OpenSSH or PEM text).
pub const SECRET_SSH_PRIVATE_KEY: &str = "sshPrivateKey";
/// Secret key: the passphrase of an encrypted SSH private key.
pub const SECRET_SSH_PASSPHRASE: &str = "sshPassphrase";
/// Secret key: known_hosts text that SSH host keys are checked against.
pub const SECRET_KNOWN_HOSTS: &str = "knownHosts";
/// Secret key: the OpenSSH private key commits are signed with (see [`SigningKey`]).
///
/// [`SigningKey`]: crate::SigningKey
pub const SECRET_SIGNING_KEY: &str = "signingKey";
/// Secret key: the passphrase of an encrypted [`SECRET_SIGNING_KEY`].
pub const SECRET_SIGNING_PASSPHRASE: &str = "signingPassphrase";

/// Credentials and SSH host keys read by [`Credentials::from_secret_data`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCredentials {
    /// How to authenticate.
    pub credentials: Credentials,
    /// The host keys from [`SECRET_KNOWN_HOSTS`], when given.
    pub host_keys: Option<HostKeyPolicy>,
}

/// Why a Secret's data gives no credentials. Names keys, never values; the caller adds which
/// Secret it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// None of the accepted key combinations is present.
    #[error("has none of: token, username + password, sshPrivateKey")]
    Missing,
}

impl Credentials {
    /// Reads credentials from a Secret's data. Values are read as UTF-8 (lossily) with trailing
    /// CR/LF removed, and an empty value counts as absent. `sshPrivateKey` (with optional
    /// `username` and `sshPassphrase`) wins, then `token` (with optional `username`), then
    /// `username` + `password`; `knownHosts` gives the host key policy. Other keys are ignored.
    pub fn from_secret_data<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<SecretCredentials, CredentialsError> {
        let data: BTreeMap<&str, String> = data
            .into_iter()
            .map(|(key, value)| {
                let text = String::from_utf8_lossy(value);
                (key, text.trim_end_matches(['\r', '\n']).to_owned())
            })
            .filter(|(_, value)| !value.is_empty())
            .collect();
        let text = |key: &str| data.get(key).cloned();
        let credentials = if let Some(key) = text(SECRET_SSH_PRIVATE_KEY) {
            // Key parsers want the final newline that the trimming removed.
            Credentials::SshKey {
                username: text(SECRET_USERNAME),
                key: SshKeySource::Memory(Secret::new(format!("{key}\n"))),
                passphrase: text(SECRET_SSH_PASSPHRASE).map(Secret::new),
            }
        } else if let Some(token) = text(SECRET_TOKEN) {
            Credentials::Token {
                username: text(SECRET_USERNAME),
                token: Secret::new(token),
            }
        } else if let (Some(username), Some(password)) =
            (text(SECRET_USERNAME), text(SECRET_PASSWORD))
        {
            Credentials::Basic {
                username,
                password: Secret::new(password),
            }
        } else {
            return Err(CredentialsError::Missing);
        };
        Ok(SecretCredentials {
            credentials,
            host_keys: data
                .get(SECRET_KNOWN_HOSTS)
                .map(|text| HostKeyPolicy::from_known_hosts(text)),
        })
    }
}

impl RemoteSpec {
    /// Sets the credentials read from a Secret, and its host keys when it has any.
    pub fn with_secret_credentials(self, secret: SecretCredentials) -> Self {
        let remote = self.with_credentials(secret.credentials);
        match secret.host_keys {
            Some(host_keys) => remote.with_host_keys(host_keys),
            None => remote,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn read(pairs: &[(&str, &str)]) -> Result<SecretCredentials, CredentialsError> {
        Credentials::from_secret_data(pairs.iter().map(|(k, v)| (*k, v.as_bytes())))
    }

    fn credentials(pairs: &[(&str, &str)]) -> Credentials {
        read(pairs).expect("credentials").credentials
    }

    #[test]
    fn each_kind() {
        assert_eq!(
            credentials(&[("token", "ghp_1")]),
            Credentials::Token {
                username: None,
                token: Secret::new("ghp_1"),
            }
        );
        assert_eq!(
            credentials(&[("token", "ghp_1"), ("username", "bot")]),
            Credentials::Token {
                username: Some("bot".into()),
                token: Secret::new("ghp_1"),
            }
        );
        assert_eq!(
            credentials(&[("username", "bot"), ("password", "pw")]),
            Credentials::Basic {
                username: "bot".into(),
                password: Secret::new("pw"),
            }
        );
        assert_eq!(
            credentials(&[("sshPrivateKey", "-----BEGIN KEY-----")]),
            Credentials::SshKey {
                username: None,
                key: SshKeySource::Memory(Secret::new("-----BEGIN KEY-----\n")),
                passphrase: None,
            }
        );
        assert_eq!(
            credentials(&[
                ("sshPrivateKey", "-----BEGIN KEY-----\n"),
                ("username", "deploy"),
                ("sshPassphrase", "phrase"),
            ]),
            Credentials::SshKey {
                username: Some("deploy".into()),
                key: SshKeySource::Memory(Secret::new("-----BEGIN KEY-----\n")),
                passphrase: Some(Secret::new("phrase")),
            }
        );
    }

    #[test]
    fn ssh_key_wins_over_token_and_token_over_password() {
        let all = [
            ("sshPrivateKey", "KEY"),
            ("token", "tok"),
            ("username", "u"),
            ("password", "pw"),
        ];
        assert_eq!(credentials(&all).kind(), "ssh-key");
        assert_eq!(credentials(&all[1..]).kind(), "token");
        assert_eq!(credentials(&all[2..]).kind(), "basic");
    }

    #[test]
    fn trailing_line_ends_are_trimmed_and_empty_is_absent() {
        assert_eq!(
            credentials(&[
                ("username", "bot\r\n"),
                ("password", "pw\n\n"),
                ("token", "")
            ]),
            Credentials::Basic {
                username: "bot".into(),
                password: Secret::new("pw"),
            }
        );
        // Only line ends go: other whitespace is part of the value.
        assert_eq!(
            credentials(&[("token", " tok \n")]),
            Credentials::Token {
                username: None,
                token: Secret::new(" tok "),
            }
        );
        // A value that is only a line end is empty, so the next kind is used.
        assert_eq!(
            credentials(&[("sshPrivateKey", "\r\n"), ("token", "tok")]).kind(),
            "token"
        );
        // Invalid UTF-8 is read lossily rather than refused.
        let lossy = Credentials::from_secret_data([("token", &b"t\xffk\n"[..])])
            .expect("credentials")
            .credentials;
        assert_eq!(
            lossy,
            Credentials::Token {
                username: None,
                token: Secret::new("t\u{fffd}k"),
            }
        );
    }

    #[test]
    fn known_hosts_give_the_host_key_policy() {
        let line = format!("[git.example.com]:2222 ssh-ed25519 {HOST_KEY}\n");
        let read = read(&[("token", "tok"), ("knownHosts", &line)]).expect("credentials");
        assert_eq!(read.host_keys, Some(HostKeyPolicy::from_known_hosts(&line)));
        assert!(read.host_keys.as_ref().is_some_and(|p| !p.is_empty()));
        let none = self::read(&[("token", "tok"), ("knownHosts", "\n")]).expect("credentials");
        assert_eq!(none.host_keys, None);

        let remote = RemoteSpec::new("ssh://git@git.example.com:2222/web.git")
            .expect("url")
            .with_secret_credentials(read);
        assert_eq!(remote.credentials.kind(), "token");
        assert!(!remote.host_keys.is_empty());
        // Without knownHosts the remote keeps the policy it had.
        let mut pinned = HostKeyPolicy::default();
        pinned
            .pin(&format!("ssh-ed25519 {HOST_KEY}"))
            .expect("valid pin");
        let kept = RemoteSpec::new("ssh://git@git.example.com/web.git")
            .expect("url")
            .with_host_keys(pinned.clone())
            .with_secret_credentials(none);
        assert_eq!(kept.host_keys, pinned);
    }

    #[test]
    fn nothing_usable_is_an_error_that_names_the_keys() {
        for pairs in [
            &[][..],
            &[("username", "bot")][..],
            &[("password", "hunter2")][..],
            &[
                ("sshPassphrase", "phrase"),
                ("knownHosts", "h ssh-ed25519 AAAA"),
            ][..],
            &[("token", ""), ("sshPrivateKey", "\n"), ("other", "x")][..],
        ] {
            let err = read(pairs).expect_err("no credentials");
            assert_eq!(err, CredentialsError::Missing);
            assert_eq!(
                err.to_string(),
                "has none of: token, username + password, sshPrivateKey"
            );
            assert!(!err.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let secrets = ["ghp_secret_1", "hunter2", "BEGIN OPENSSH", "pass-phrase"];
        for pairs in [
            &[("token", "ghp_secret_1"), ("username", "bot")][..],
            &[("username", "bot"), ("password", "hunter2")][..],
            &[
                ("sshPrivateKey", "-----BEGIN OPENSSH PRIVATE KEY-----"),
                ("sshPassphrase", "pass-phrase"),
            ][..],
        ] {
            let read = read(pairs).expect("credentials");
            let remote = RemoteSpec::new("https://h/r.git")
                .expect("url")
                .with_secret_credentials(read.clone());
            for text in [format!("{read:?}"), format!("{remote:?}")] {
                for secret in secrets {
                    assert!(!text.contains(secret), "{text}");
                }
            }
        }
    }
}
