//! The bench's values file: Helm-chart-shaped sections repeated to a size. Shared by
//! benches/set.rs and examples/set_profile.rs, so both edit the same document.

use std::fmt::Write as _;

/// One Helm-chart-shaped block: comments, nested mappings, quoted and flow values, unicode.
pub fn section(out: &mut String, i: usize) {
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
pub fn values_file(size: usize) -> (String, usize) {
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
