//! `promote-operator`: runs the Promote controller.
fn main() {}
