//! `kubectl-promote`: the kubectl plugin for Promote.
fn main() {}
