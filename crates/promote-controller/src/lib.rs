//! The Promote operator: a kube-runtime controller that reconciles `Promotion` resources.
//!
//! The pipeline is observe (I/O, [`observe`]) → decide (pure, [`decide`]) → act (I/O, [`act`])
//! → report (I/O, [`report`]). Everything the decision needs arrives as plain data in a
//! [`model::Observation`].

pub mod act;
pub mod context;
pub mod controller;
pub mod decide;
pub mod duration;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod observe;
pub mod operator;
pub mod report;
