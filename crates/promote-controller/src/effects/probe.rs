//! One probe of a lane's health URL: TLS verified against the system roots plus the lane's
//! CA bundle, redirects followed only on the same host, at most [`BODY_LIMIT`] of the body
//! read. Every way it can fail is a failed attempt, never an error of the reconcile.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use promote_api::ProbeAttempt;
use promote_lane::ProbeRequest;
use reqwest::redirect::{Attempt, Policy};

use crate::context::Context;

/// The label a Secret must carry to be used as a CA bundle.
pub const CA_BUNDLE_LABEL: &str = "promote.dev/ca-bundle";
/// How much of an answer's body is read, to look for the expected text.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Longest wait for a connection (an attempt's own timeout may end it sooner).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most redirects followed.
const MAX_REDIRECTS: usize = 5;

/// Probes `request.url` once, on behalf of the lane in `namespace`.
pub(crate) async fn probe(ctx: &Context, namespace: &str, request: &ProbeRequest) -> ProbeAttempt {
    let at = Time(Timestamp::now());
    let started = Instant::now();
    let result = match client(ctx, namespace, request).await {
        Ok(client) => tokio::time::timeout(request.timeout, get(&client, request))
            .await
            .unwrap_or_else(|_| {
                Err((
                    None,
                    format!("no answer within {}s", request.timeout.as_secs()),
                ))
            }),
        Err(e) => Err((None, e)),
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    ctx.metrics.probe(result.is_ok());
    match result {
        Ok(code) => ProbeAttempt {
            at,
            passed: true,
            code: Some(code),
            latency_ms,
            error: None,
        },
        Err((code, error)) => ProbeAttempt {
            at,
            passed: false,
            code,
            latency_ms,
            error: Some(error),
        },
    }
}

/// GET with the body read up to the limit: the status code when it passes, else the code
/// (if any) and why not.
async fn get(
    client: &reqwest::Client,
    request: &ProbeRequest,
) -> Result<u16, (Option<u16>, String)> {
    let mut response = client
        .get(&request.url)
        .send()
        .await
        .map_err(|e| (None, describe(&e)))?;
    let status = response.status();
    let code = status.as_u16();
    if !status.is_success() {
        return Err((Some(code), format!("the answer was {status}")));
    }
    let Some(expected) = &request.expect_body else {
        return Ok(code);
    };
    let mut body = Vec::new();
    while body.len() < BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err((Some(code), format!("reading the body: {}", describe(&e)))),
        }
    }
    body.truncate(BODY_LIMIT);
    if String::from_utf8_lossy(&body).contains(expected.as_str()) {
        Ok(code)
    } else {
        Err((
            Some(code),
            format!(
                "the body (first {} KiB) does not contain {expected:?}",
                BODY_LIMIT / 1024
            ),
        ))
    }
}

/// A client for this probe: the shared one, or one that also trusts the lane's CA bundle.
/// The attempt as a whole is bounded by the caller's timeout, so one connect limit serves all.
async fn client(
    ctx: &Context,
    namespace: &str,
    request: &ProbeRequest,
) -> Result<reqwest::Client, String> {
    let Some((name, key)) = &request.ca_bundle else {
        // Loading the system roots reads files; do it once, not on every probe.
        static SHARED: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
        return SHARED.get_or_init(|| build(builder())).clone();
    };
    let mut with_bundle = builder();
    for cert in ca_bundle(ctx, namespace, name, key).await? {
        with_bundle = with_bundle.add_root_certificate(cert);
    }
    build(with_bundle)
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(same_host())
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("promote-operator/", env!("CARGO_PKG_VERSION")))
}

fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, String> {
    builder
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", describe(&e)))
}

/// Follows a redirect only to the same scheme, host and port, and only a few times.
fn same_host() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let first = attempt.previous().first().cloned();
        let next = attempt.url();
        let same = first.as_ref().is_some_and(|f| {
            f.scheme() == next.scheme()
                && f.host_str() == next.host_str()
                && f.port_or_known_default() == next.port_or_known_default()
        });
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if same {
            attempt.follow()
        } else {
            let host = next.host_str().unwrap_or("?").to_owned();
            attempt.error(format!("a redirect to another host ({host}) was refused"))
        }
    })
}

/// The certificates of the lane's CA bundle Secret, which must carry [`CA_BUNDLE_LABEL`].
async fn ca_bundle(
    ctx: &Context,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Vec<reqwest::Certificate>, String> {
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| format!("cannot read the CA bundle Secret {namespace}/{name}: {e}"))?
        .ok_or_else(|| {
            format!("the CA bundle Secret {namespace}/{name} named by spec.verification.caBundle does not exist")
        })?;
    let labelled = promote_api::opted_in(secret.metadata.labels.as_ref(), CA_BUNDLE_LABEL);
    if !labelled {
        return Err(format!(
            "Secret {namespace}/{name} is not marked as a CA bundle: label it with `kubectl label secret {name} -n {namespace} {CA_BUNDLE_LABEL}=true`"
        ));
    }
    let pem = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .ok_or_else(|| format!("Secret {namespace}/{name} has no key {key:?}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        format!("Secret {namespace}/{name} key {key:?} is not PEM certificates: {e}")
    })?;
    if certs.is_empty() {
        return Err(format!(
            "Secret {namespace}/{name} key {key:?} holds no certificate"
        ));
    }
    Ok(certs)
}

/// An HTTP client error in words, with its causes (the top level alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else if e.is_redirect() {
        "redirect refused".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
