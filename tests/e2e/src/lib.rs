//! End-to-end tests of Promote against a real Kubernetes API server; the tests live in
//! `tests/`. This library is empty on purpose: shared helpers belong in
//! `promote-testsupport`.
