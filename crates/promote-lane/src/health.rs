//! The health URL check of `spec.verification`: validated once, and the pure bookkeeping of
//! its evidence (consecutive passing answers, the newest attempts).

use std::time::Duration;

use promote_api::{PROBE_ATTEMPTS_LIMIT, ProbeAttempt, Verification, VerificationEvidence};

use crate::duration::parse_duration;
use crate::spec::{SpecError, SpecErrorKind, Written, error};

/// Consecutive passing answers needed when the spec names none.
pub const DEFAULT_SUCCESSES: u32 = 3;
/// Time between probes when the spec names none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The longest one probe may take.
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest error message kept for one attempt.
const ERROR_LIMIT: usize = 512;

/// A validated health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The URL (http or https, no credentials).
    pub url: String,
    /// Consecutive passing answers that verify a promotion.
    pub successes: u32,
    /// Time between probes.
    pub interval: Written<Duration>,
    /// Text a passing answer's body must contain.
    pub expect_body: Option<String>,
    /// Extra certificate authorities: the Secret's name and key.
    pub ca_bundle: Option<(String, String)>,
}

impl HealthCheck {
    /// The longest one probe may take: the interval, within 1 s to 30 s.
    pub fn probe_timeout(&self) -> Duration {
        self.interval
            .value
            .clamp(Duration::from_secs(1), MAX_PROBE_TIMEOUT)
    }
}

/// Parses `spec.verification`'s health check; None when no URL is set.
pub(crate) fn parse(v: &Verification) -> Result<Option<HealthCheck>, SpecError> {
    let url = match v.health_url.as_deref().map(str::trim) {
        None | Some("") => {
            if v.expect_body.is_some() || v.ca_bundle.is_some() {
                return Err(error(
                    "spec.verification.healthUrl",
                    SpecErrorKind::Empty,
                    "expectBody or caBundle is set but there is no healthUrl".to_owned(),
                    "set healthUrl, or remove expectBody and caBundle",
                ));
            }
            return Ok(None);
        }
        Some(u) => u,
    };
    check_url(url)?;
    let interval = match v.interval.as_deref() {
        None | Some("") => Written {
            value: DEFAULT_INTERVAL,
            text: "5s".to_owned(),
        },
        Some(text) => {
            let value = parse_duration(text).ok_or_else(|| {
                error(
                    "spec.verification.interval",
                    SpecErrorKind::Duration,
                    format!("{text:?} is not a duration"),
                    "write a duration such as 5s or 1m",
                )
            })?;
            if value < Duration::from_secs(1) {
                return Err(error(
                    "spec.verification.interval",
                    SpecErrorKind::Duration,
                    format!("{text:?} would probe more than once a second"),
                    "set 1s or more, such as 5s",
                ));
            }
            Written {
                value,
                text: text.to_owned(),
            }
        }
    };
    let successes = v.successes.unwrap_or(DEFAULT_SUCCESSES);
    if !(1..=100).contains(&successes) {
        return Err(error(
            "spec.verification.successes",
            SpecErrorKind::NotAllowed,
            format!("{successes} is outside 1 to 100"),
            "set a number of consecutive answers from 1 to 100, such as 3",
        ));
    }
    let ca_bundle = match &v.ca_bundle {
        None => None,
        Some(ca) if ca.secret_name.trim().is_empty() || ca.key.trim().is_empty() => {
            return Err(error(
                "spec.verification.caBundle",
                SpecErrorKind::Empty,
                "the Secret's name or key is empty".to_owned(),
                "name the Secret and the key holding the PEM certificates (default ca.crt)",
            ));
        }
        Some(ca) => Some((ca.secret_name.clone(), ca.key.clone())),
    };
    Ok(Some(HealthCheck {
        url: url.to_owned(),
        successes,
        interval,
        expect_body: v.expect_body.clone().filter(|b| !b.is_empty()),
        ca_bundle,
    }))
}

fn check_url(text: &str) -> Result<(), SpecError> {
    let bad = |problem: String, fix: &str| {
        error(
            "spec.verification.healthUrl",
            SpecErrorKind::NotAllowed,
            problem,
            fix,
        )
    };
    let url = url::Url::parse(text).map_err(|e| {
        bad(
            format!("{text:?} is not a URL ({e})"),
            "write an absolute URL such as https://web.example.com/health",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(
            format!("the scheme {:?} is not http or https", url.scheme()),
            "use an http:// or https:// URL",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(
            "the URL names no host".to_owned(),
            "write an absolute URL such as https://web.example.com/health",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL: it holds a credential.
        return Err(bad(
            "the URL holds credentials, which would end up in status and Events".to_owned(),
            "remove user:password@ from healthUrl; the health endpoint must answer without credentials",
        ));
    }
    Ok(())
}

/// The evidence after one more attempt: the count of consecutive passing answers, the total,
/// and the newest attempts (bounded).
pub fn record_attempt(
    evidence: Option<VerificationEvidence>,
    check: &HealthCheck,
    mut attempt: ProbeAttempt,
) -> VerificationEvidence {
    let mut e = evidence.unwrap_or_else(|| VerificationEvidence {
        url: check.url.clone(),
        required: check.successes,
        ..VerificationEvidence::default()
    });
    e.required = check.successes;
    e.total = e.total.saturating_add(1);
    e.consecutive = if attempt.passed {
        e.consecutive.saturating_add(1)
    } else {
        0
    };
    if let Some(error) = &mut attempt.error
        && error.len() > ERROR_LIMIT
    {
        let mut cut = ERROR_LIMIT;
        while !error.is_char_boundary(cut) {
            cut -= 1;
        }
        error.truncate(cut);
    }
    e.attempts.push(attempt);
    let excess = e.attempts.len().saturating_sub(PROBE_ATTEMPTS_LIMIT);
    e.attempts.drain(..excess);
    e
}

/// One attempt in words: `200 in 12ms`, or `503 in 40ms: ...`, or the error.
pub fn describe_attempt(a: &ProbeAttempt) -> String {
    let code = a
        .code
        .map_or_else(|| "no answer".to_owned(), |c| c.to_string());
    match &a.error {
        Some(e) => format!("{code} after {}ms: {e}", a.latency_ms),
        None => format!("{code} in {}ms", a.latency_ms),
    }
}
