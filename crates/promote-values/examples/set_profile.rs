//! `set` on the bench's 1 MiB values file, `N` times in one process (`N` is the first
//! argument, default 1), for instruction counts: run it under callgrind with `N` and with `0`
//! and divide the difference by `N`.
//!
//! ```sh
//! cargo build --release -p promote-values --example set_profile
//! valgrind --tool=callgrind target/release/examples/set_profile 5
//! valgrind --tool=callgrind target/release/examples/set_profile 0
//! ```

use std::fmt::Write as _;

// The same generator as benches/set.rs.
/// One Helm-chart-shaped block: comments, nested mappings, quoted and flow values, unicode.
fn section(out: &mut String, i: usize) {
    let _ = write!(
        out,
        "## Service {i}: the web frontend, deployed by the release pipeline.\n\
         ## ref: https://example.com/docs/services/{i} — ownership: team-{i} ✓\n\
         service{i}:\n\
         \x20 enabled: true\n\
         \x20 replicaCount: {}\n\
         \x20 image:\n\
         \x20   registry: ghcr.io\n\
         \x20   repository: acme/service-{i}\n\
         \x20   tag: \"1.{i}.0\" # bumped by CI\n\
         \x20   pullPolicy: IfNotPresent\n\
         \x20 resources: {{limits: {{cpu: 500m, memory: 512Mi}}, requests: {{cpu: 100m, memory: 128Mi}}}}\n\
         \x20 env:\n\
         \x20   - name: LOG_LEVEL\n\
         \x20     value: 'info'\n\
         \x20   - name: FEATURE_FLAGS\n\
         \x20     value: \"a,b,c\"\n\
         \x20 podAnnotations: {{}}\n\
         \x20 tolerations: []\n\n",
        i % 5 + 1
    );
}

/// A values file of about `size` bytes whose last section is `service{last}`.
fn values_file(size: usize) -> (String, usize) {
    let mut out = String::from(
        "# Values for the shop umbrella chart.\n# Edited by Promote: only image tags change.\n\n",
    );
    let mut i = 0;
    while out.len() < size {
        section(&mut out, i);
        i += 1;
    }
    (out, i - 1)
}

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
