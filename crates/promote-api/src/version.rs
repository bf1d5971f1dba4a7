//! The version grammar, as the CRD's CEL rules state it.
//!
//! A version is an OCI tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`), a digest
//! (`sha256:<64 hex>`), or both (`tag@sha256:<64 hex>`). The values editor enforces the
//! same grammar before it writes anything; a test keeps the two in step.

/// Longest accepted version: a 128-character tag, `@`, and a sha256 digest.
pub const MAX_LEN: usize = 128 + 1 + 7 + 64;

/// CEL rule (with `self` bound to a string) that accepts exactly the version grammar.
pub const CEL_RULE: &str = "self.matches('^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(@sha256:[a-f0-9]{64})?$') || self.matches('^sha256:[a-f0-9]{64}$')";

/// Message the API server returns when [`CEL_RULE`] fails.
pub const CEL_MESSAGE: &str = "must be an OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}), a digest sha256:<64 lowercase hex>, or tag@sha256:<64 lowercase hex>";
