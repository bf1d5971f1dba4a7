//! The status views that do not depend on the state machine: environments, drift, policy.

mod drift;
mod environment;
mod policy;

pub(crate) use drift::drift;
pub(crate) use environment::environment_status;
pub(crate) use policy::policy;
