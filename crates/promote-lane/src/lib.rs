//! The lane: what one Promotion should do next, decided without any I/O.
//!
//! - [`LaneSpec::parse`] validates a `Promotion`'s spec once: durations parsed, defaults
//!   applied, fields, paths and versions checked; a bad spec is one [`SpecError`] naming the
//!   field and the fix; [`invalid_spec`] plans the Stalled status that waits for a change.
//! - [`decide`] takes an [`Observation`] (Git, both Argo CD Applications, the previous status,
//!   the clock) and returns a [`Plan`]: the status so far and the [`Effect`]s to carry out in
//!   order (record the intent, write the commit, request a sync or a refresh).
//! - The controller carries out one effect at a time and folds its [`EffectOutcome`] back in
//!   with [`Plan::fold`], which moves the status on and chooses the next effect; then
//!   [`Plan::finish`] gives the [`Report`] to write. One decision per reconcile, no choice
//!   made outside this crate.
//!
//! Inside: the state machine (`machine`: idle, in flight, hold after a conflict), the status
//! views (`views`: environments, drift, self-heal policy), the conditions, and records.
//!
//! This crate must not depend on a Kubernetes client, tokio, git or any I/O: it depends on
//! the API types, the pure Argo CD view, the pure values grammar, url and jiff. The test command
//! checks that with `cargo tree`.

mod conditions;
mod decide;
pub mod duration;
mod fold;
pub mod health;
mod machine;
mod observation;
pub mod parity;
mod plan;
mod record;
mod spec;
mod views;
pub mod windows;

pub use decide::{decide, invalid_spec};
pub use observation::{AppView, ConfigFiles, Failure, GitView, Observation, Upstream};
pub use plan::{
    Effect, EffectOutcome, Note, Plan, ProbeRequest, Report, Requeue, SyncResult, Timing,
    WriteFrom, WriteRequest, WriteResult,
};
pub use record::short;
pub use spec::{
    Admission, GateSpec, LaneSpec, RepositorySpec, ResetSpec, Side, SpecError, SpecErrorKind,
    VerificationSpec, Written,
};
