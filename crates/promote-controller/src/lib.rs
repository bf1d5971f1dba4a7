//! The Promote operator: a kube-runtime controller that reconciles `Promotion` resources.
//!
//! The pipeline is observe (I/O) → decide (pure, [`decide`]) → act (I/O) → report (I/O).
//! Everything the decision needs arrives as plain data in a [`model::Observation`].

pub mod decide;
pub mod duration;
pub mod model;
