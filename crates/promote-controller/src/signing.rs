//! The lane's signing key (`spec.repository.signing`): read from a Secret in the lane's
//! namespace that is labelled as credentials, so every commit of the lane is signed. A key
//! that cannot sign stalls the lane with `SigningKeyError`; nothing is committed unsigned.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use promote_api::CREDENTIALS_LABEL;
use promote_api::conditions::reasons::SIGNING_KEY_ERROR;
use promote_git::{RemoteSpec, SigningKey, SigningKeyError};
use promote_lane::{Failure, LaneSpec};

use crate::context::Context;

/// Most Secrets whose parsed key is kept; past that the cache starts again.
const CACHE_LIMIT: usize = 1024;

/// Parsed keys by Secret (`namespace/name`), with the Secret version they were read from:
/// decrypting a passphrase-protected key costs a key derivation, which every reconcile of the
/// lane would otherwise pay again.
type Parsed = HashMap<String, (String, Result<SigningKey, SigningKeyError>)>;

fn parsed() -> &'static Mutex<Parsed> {
    static PARSED: OnceLock<Mutex<Parsed>> = OnceLock::new();
    PARSED.get_or_init(Default::default)
}

/// `remote` with the lane's signing key, when the lane names one.
pub(crate) async fn with_signing(
    ctx: &Context,
    namespace: &str,
    spec: &LaneSpec,
    remote: RemoteSpec,
) -> Result<RemoteSpec, Failure> {
    let Some(name) = &spec.repository.signing_secret else {
        return Ok(remote);
    };
    let at = format!("Secret {namespace}/{name} named by spec.repository.signing");
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = match secrets.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Failure::permanent(
                SIGNING_KEY_ERROR,
                format!(
                    "{at} does not exist; create it with the OpenSSH private key under signingKey (nothing is committed unsigned)"
                ),
            ));
        }
        Err(e) => {
            return Err(Failure::transient(
                SIGNING_KEY_ERROR,
                format!("cannot read {at}: {e}"),
            ));
        }
    };
    if !promote_api::opted_in(secret.metadata.labels.as_ref(), CREDENTIALS_LABEL) {
        return Err(Failure::permanent(
            SIGNING_KEY_ERROR,
            format!(
                "{at} is not marked as credentials: label it with `kubectl label secret {name} -n {namespace} {CREDENTIALS_LABEL}=true` (nothing is committed unsigned)"
            ),
        ));
    }
    let version = format!(
        "{}/{}",
        secret.metadata.uid.as_deref().unwrap_or_default(),
        secret
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    );
    let key = read_key(format!("{namespace}/{name}"), version, secret).await;
    match key {
        Ok(key) => Ok(remote.with_signing(key)),
        Err(e) => Err(Failure::permanent(
            SIGNING_KEY_ERROR,
            format!("{at}: {e}; {} (nothing is committed unsigned)", fix(&e)),
        )),
    }
}

/// The key in `secret`, parsed once per Secret version (off the async workers: decryption is
/// CPU work).
async fn read_key(
    cache_key: String,
    version: String,
    secret: Secret,
) -> Result<SigningKey, SigningKeyError> {
    let lock = || parsed().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((seen, key)) = lock().get(&cache_key)
        && *seen == version
    {
        return key.clone();
    }
    let read = tokio::task::spawn_blocking(move || {
        let data = secret.data.unwrap_or_default();
        SigningKey::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), &v.0[..])))
    })
    .await
    .unwrap_or_else(|_| {
        Err(SigningKeyError::Sign {
            key: cache_key.clone(),
            message: "reading the key stopped".into(),
        })
    });
    let mut cache = lock();
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(cache_key, (version, read.clone()));
    read
}

/// What the Secret's owner does about `e`.
fn fix(e: &SigningKeyError) -> &'static str {
    match e {
        SigningKeyError::Missing => "add the OpenSSH private key under signingKey",
        SigningKeyError::Malformed => {
            "put the private key file ssh-keygen wrote (not the .pub file) under signingKey"
        }
        SigningKeyError::NeedsPassphrase => "add the key's passphrase under signingPassphrase",
        SigningKeyError::WrongPassphrase => "correct signingPassphrase",
        SigningKeyError::Unsupported(_) => "make a key with `ssh-keygen -t ed25519`",
        SigningKeyError::Sign { .. } => "replace the key",
    }
}

/// The failure of a commit that could not be signed.
pub(crate) fn signing_failure(e: &promote_git::GitError) -> Option<Failure> {
    matches!(e, promote_git::GitError::Signing { .. })
        .then(|| Failure::permanent(SIGNING_KEY_ERROR, format!("{e} (nothing was committed)")))
}
