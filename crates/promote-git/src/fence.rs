//! The leader fence: a check the engine makes right before every push.

use std::fmt;
use std::sync::Arc;

/// A check called immediately before every push goes out (after the commit is built). `Ok`
/// lets the push go; `Err(reason)` stops it, nothing is pushed, and the requests fail with
/// [`GitError::Fenced`](crate::GitError::Fenced). An operator running with leader election
/// returns `Err` once it no longer holds the lease, so a deposed leader never writes.
#[derive(Clone)]
pub struct Fence(Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

impl Fence {
    /// A fence that calls `check` before each push.
    pub fn new(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(check))
    }

    /// Asks whether a push may go out now.
    pub fn check(&self) -> Result<(), String> {
        (self.0)()
    }
}

impl fmt::Debug for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fence(..)")
    }
}
