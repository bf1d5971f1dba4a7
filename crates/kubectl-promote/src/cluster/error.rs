//! How a cluster verb fails: a message, an optional hint, and the exit status it maps to.

use std::fmt;

/// Exit status when the Promotion (or the namespace) does not exist.
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit status when the Promotion kept changing under an approval; nothing was written.
pub const EXIT_CONFLICT: u8 = crate::local::EXIT_CONFLICT;
/// Exit status for failures that may pass when tried again (API server unreachable, 5xx).
pub const EXIT_RETRY: u8 = crate::local::EXIT_RETRY;

/// A failed or refused cluster verb.
#[derive(Debug)]
pub struct Failure {
    /// The process exit status.
    pub code: u8,
    /// What went wrong, in words a user can act on.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
}

impl Failure {
    /// A refusal or an error that trying again will not fix (exit 1).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint printed after the message.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Classifies a client error met while doing `action` on the Promotion `name`.
    pub fn kube(action: &str, name: Option<&str>, namespace: Option<&str>, e: kube::Error) -> Self {
        // By code as well as reason: a 404 that is not a JSON Status (no CRD) has no reason.
        let code = match &e {
            kube::Error::Api(s) if s.code == 404 || s.reason == "NotFound" => {
                return not_found(s.details.as_ref().map(|d| d.name.as_str()), name, namespace);
            }
            kube::Error::Api(s) if s.code == 409 || s.reason == "Conflict" => EXIT_CONFLICT,
            kube::Error::Api(s) if matches!(s.code, 429 | 500..=599) => EXIT_RETRY,
            kube::Error::HyperError(_) | kube::Error::Service(_) => EXIT_RETRY,
            _ => 1,
        };
        let message = match &e {
            kube::Error::Api(s) if !s.message.is_empty() => format!("{action}: {}", s.message),
            // The service error chain holds the useful part (connection refused, TLS).
            _ => format!("{action}: {}", chain(&e)),
        };
        let hint = match &e {
            kube::Error::Api(s) if s.code == 403 => {
                Some("ask for get, list and patch on promotions.promote.dev in this namespace")
            }
            _ if code == EXIT_RETRY => Some("this may pass when tried again"),
            _ => None,
        };
        Self {
            code,
            message,
            hint: hint.map(str::to_owned),
        }
    }
}

/// A 404 names the object when the object is missing; without a name it is the API itself
/// (the CRD is not installed).
fn not_found(reported: Option<&str>, name: Option<&str>, namespace: Option<&str>) -> Failure {
    match (reported.filter(|r| !r.is_empty()), name) {
        (Some(_), Some(name)) => {
            let place = namespace
                .map(|ns| format!(" in namespace {ns}"))
                .unwrap_or_default();
            Failure {
                code: EXIT_NOT_FOUND,
                message: format!("promotion {name} not found{place}"),
                hint: Some("list them with: kubectl promote get (-A for every namespace)".into()),
            }
        }
        _ => Failure {
            code: EXIT_NOT_FOUND,
            message: "this cluster does not serve promotions.promote.dev/v1alpha1".into(),
            hint: Some(
                "install Promote's CRD (crds/promotions.promote.dev.yaml, or the Helm chart)"
                    .into(),
            ),
        },
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use kube::core::{Status, response::StatusDetails};

    use super::*;

    fn api(code: u16, reason: &str, name: &str) -> kube::Error {
        let details = StatusDetails {
            name: name.into(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: Vec::new(),
            retry_after_seconds: 0,
        };
        kube::Error::Api(
            Status::failure("m", reason)
                .with_code(code)
                .with_details(details)
                .boxed(),
        )
    }

    #[test]
    fn exit_codes_follow_the_api_status() {
        let f = |e| Failure::kube("get", Some("web"), Some("apps"), e);
        let missing = f(api(404, "NotFound", "web"));
        assert_eq!(missing.code, EXIT_NOT_FOUND);
        assert_eq!(missing.message, "promotion web not found in namespace apps");
        let no_crd = f(api(404, "Failed to parse error data", ""));
        assert!(no_crd.message.contains("does not serve"), "{no_crd}");
        assert!(no_crd.hint.is_some_and(|h| h.contains("CRD")));
        assert_eq!(f(api(409, "Conflict", "web")).code, EXIT_CONFLICT);
        assert_eq!(f(api(503, "ServiceUnavailable", "")).code, EXIT_RETRY);
        let forbidden = f(api(403, "Forbidden", "web"));
        assert_eq!(forbidden.code, 1);
        assert!(forbidden.hint.is_some_and(|h| h.contains("patch")));
        assert_eq!(f(api(422, "Invalid", "web")).code, 1);
    }
}
