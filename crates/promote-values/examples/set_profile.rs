//! `set` on the bench's 1 MiB values file, `N` times in one process (`N` is the first
//! argument, default 1), for instruction counts: run it under callgrind with `N` and with `0`
//! and divide the difference by `N`.
//!
//! ```sh
//! cargo build --release -p promote-values --example set_profile
//! valgrind --tool=callgrind target/release/examples/set_profile 5
//! valgrind --tool=callgrind target/release/examples/set_profile 0
//! ```

#[path = "../benches/support/shape.rs"]
mod shape;
use shape::values_file;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let (content, last) = values_file(1024 * 1024);
    let path = format!("service{last}.image.tag");
    let mut bytes = 0;
    for _ in 0..n {
        let edit = promote_values::set(
            "bench",
            std::hint::black_box(content.as_bytes()),
            &path,
            "2.0.0",
        )
        .expect("the bench edit works");
        bytes += edit.content.len();
    }
    println!("{n} edits, {bytes} bytes written");
}
