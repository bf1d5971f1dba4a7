//! The Promotion custom resource.
