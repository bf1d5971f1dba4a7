//! The Promote operator: a kube-runtime controller that reconciles `Promotion` resources.
//!
//! One reconcile is one pass ([`reconcile::Pass`]): the spec is validated into a
//! `promote_lane::LaneSpec`, [`observe`] reads Git and both Argo CD Applications into a
//! `promote_lane::Observation`, `promote_lane::decide` (pure) returns a plan, [`effects`]
//! carries out its effects one by one (record the intent, commit, sync or refresh) and
//! each outcome is folded back into the plan, then [`report`] writes the status and Events.
//! The decision and every choice about what to do next live in `promote-lane`; this crate
//! does the I/O.
//!
//! Around it: [`context`] (what every reconcile shares), [`watches`] (what triggers a
//! reconcile, including [`branches`]: one shared check per branch and access), [`supervise`]
//! (a deadline on every reconcile, cancellation when leadership is lost), [`operator`]
//! (start-up checks, the probe and metrics server, leader election, a graceful stop), [`leader`] (the Lease, judged on the local monotonic clock), [`deadlines`],
//! [`watchdog`] (what the probes report), [`http`], [`metrics`]. It talks to the Kubernetes
//! API and, through `promote-git`, to git servers; it must not talk to Argo CD other than
//! through its Application resources.

pub mod apps;
pub mod branches;
pub mod cached;
pub mod context;
pub mod deadlines;
pub mod effects;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod operator;
pub mod reconcile;
pub mod report;
mod signing;
pub mod supervise;
pub mod watchdog;
pub mod watches;
