//! Smoke tests of the cluster the tests run against (the test control plane, or the one
//! `KUBECONFIG` names): that it serves what the operator needs. They test the cluster, not
//! the operator; the tests live in `tests/`. This library is empty on purpose: shared
//! helpers belong in `promote-testsupport`.
