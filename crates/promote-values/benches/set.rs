//! `set` on a typical 2 KiB values file and on a 1 MiB one, each next to its floor: reading
//! and writing the same bytes with no edit. Results and the ratio are in docs/benchmarks.md.

use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

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

fn bench_size(c: &mut Criterion, name: &str, size: usize, dir: &Path) {
    let (content, last) = values_file(size);
    let input = dir.join(format!("{name}.yaml"));
    let output = dir.join(format!("{name}.out.yaml"));
    fs::write(&input, &content).expect("write the input");
    eprintln!(
        "values {name}: {} bytes, {} sections",
        content.len(),
        last + 1
    );
    // The value to change sits in the last section: the whole file is parsed either way.
    let path = format!("service{last}.image.tag");
    let check = promote_values::set("bench", content.as_bytes(), &path, "2.0.0")
        .expect("the bench edit works");
    assert!(check.changed);

    let mut group = c.benchmark_group(format!("values {name}"));
    group.throughput(Throughput::Bytes(content.len() as u64));
    group.bench_function("floor: read + write", |b| {
        b.iter(|| {
            let bytes = fs::read(&input).expect("read");
            fs::write(&output, black_box(&bytes)).expect("write");
        });
    });
    group.bench_function("read + set + write", |b| {
        b.iter(|| {
            let bytes = fs::read(&input).expect("read");
            let edit = promote_values::set("bench", &bytes, &path, "2.0.0").expect("set");
            fs::write(&output, black_box(&edit.content)).expect("write");
        });
    });
    group.bench_function("set alone (in memory)", |b| {
        b.iter(|| {
            promote_values::set("bench", black_box(content.as_bytes()), &path, "2.0.0")
                .expect("set")
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    bench_size(c, "2KiB", 2 * 1024, dir.path());
    bench_size(c, "1MiB", 1024 * 1024, dir.path());
}

criterion_group! {
    name = set;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(set);
