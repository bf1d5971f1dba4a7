//! Commit signing with an SSH key: the `gpgsig` header `git -c gpg.format=ssh commit -S`
//! writes (an armored SSHSIG over the commit object, namespace `git`, SHA-512), which
//! `git verify-commit` accepts against an allowed-signers file. Nothing here prints the key.

use std::collections::BTreeMap;
use std::fmt;

use ssh_key::{HashAlg, LineEnding, PrivateKey};

use crate::secret_data::{SECRET_SIGNING_KEY, SECRET_SIGNING_PASSPHRASE};

/// The SSHSIG namespace git signs commits in.
const NAMESPACE: &str = "git";

/// A private key that signs commits, decrypted and ready. `Debug` and `Display` show the key's
/// algorithm and public fingerprint only.
#[derive(Clone)]
pub struct SigningKey {
    key: PrivateKey,
    identity: String,
}

/// Why a key cannot sign. Names what is wrong, never the key or its passphrase; the caller
/// adds which Secret it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningKeyError {
    /// The Secret has no `signingKey`.
    #[error("has no signingKey")]
    Missing,
    /// The bytes are not an OpenSSH private key.
    #[error(
        "signingKey is not an OpenSSH private key (one starting with -----BEGIN OPENSSH PRIVATE KEY-----)"
    )]
    Malformed,
    /// The key is encrypted and no passphrase was given.
    #[error("signingKey is encrypted and there is no signingPassphrase")]
    NeedsPassphrase,
    /// The passphrase does not decrypt the key.
    #[error("signingPassphrase does not decrypt signingKey")]
    WrongPassphrase,
    /// The key's algorithm is not one commits can be signed with here.
    #[error("signingKey is a {0} key; use an ed25519 or ecdsa (nistp256, nistp384) key")]
    Unsupported(String),
    /// Signing failed.
    #[error("signing with {key} failed: {message}")]
    Sign {
        /// The key's identity ([`SigningKey::identity`]).
        key: String,
        /// What failed.
        message: String,
    },
}

impl SigningKey {
    /// Parses an OpenSSH private key (`ssh-keygen`'s format), decrypting it with `passphrase`
    /// when it is encrypted (a passphrase given for a plain key is ignored). The key is tried
    /// once here, so a key that cannot sign is refused before any commit is built.
    pub fn from_openssh(key: &[u8], passphrase: Option<&str>) -> Result<Self, SigningKeyError> {
        let parsed = PrivateKey::from_openssh(key).map_err(|_| SigningKeyError::Malformed)?;
        let key = if parsed.is_encrypted() {
            let passphrase = passphrase.ok_or(SigningKeyError::NeedsPassphrase)?;
            parsed
                .decrypt(passphrase)
                .map_err(|_| SigningKeyError::WrongPassphrase)?
        } else {
            parsed
        };
        let public = key.public_key();
        let identity = format!(
            "{} {}",
            public.algorithm(),
            public.fingerprint(HashAlg::Sha256)
        );
        let signing = Self { key, identity };
        signing.sign(b"promote: signing key check").map_err(|e| {
            if let SigningKeyError::Sign { .. } = e {
                SigningKeyError::Unsupported(signing.key.algorithm().to_string())
            } else {
                e
            }
        })?;
        Ok(signing)
    }

    /// Reads the key from a Secret's data: `signingKey`, and `signingPassphrase` when the key
    /// is encrypted. Trailing CR/LF of the passphrase is removed; an empty value is absent.
    pub fn from_secret_data<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, SigningKeyError> {
        let data: BTreeMap<&str, &[u8]> = data
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        let key = data
            .get(SECRET_SIGNING_KEY)
            .ok_or(SigningKeyError::Missing)?;
        let passphrase = data
            .get(SECRET_SIGNING_PASSPHRASE)
            .map(|p| {
                String::from_utf8_lossy(p)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned()
            })
            .filter(|p| !p.is_empty());
        Self::from_openssh(key, passphrase.as_deref())
    }

    /// The key's algorithm and SHA-256 fingerprint (`ssh-ed25519 SHA256:…`), as
    /// `ssh-keygen -lf` names it: requests batch into one commit only when this is equal.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The public key line (`ssh-ed25519 AAAA…`) for an allowed-signers file.
    pub fn public_key(&self) -> String {
        self.key
            .public_key()
            .to_openssh()
            .unwrap_or_else(|_| self.identity.clone())
    }

    /// The armored SSHSIG of `content` (a commit object without its signature).
    pub(crate) fn sign(&self, content: &[u8]) -> Result<String, SigningKeyError> {
        let failed = |e: ssh_key::Error| SigningKeyError::Sign {
            key: self.identity.clone(),
            message: e.to_string(),
        };
        self.key
            .sign(NAMESPACE, HashAlg::Sha512, content)
            .map_err(failed)?
            .to_pem(LineEnding::LF)
            .map_err(failed)
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
    }
}

impl Eq for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.identity)
    }
}

impl fmt::Display for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identity)
    }
}
