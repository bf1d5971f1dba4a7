//! `set` on a typical 2 KiB values file and on a 1 MiB one, each next to its floor: reading
//! and writing the same bytes with no edit; and `set_parts`, the same edit written as its
//! three pieces. Results and the ratio are in docs/benchmarks.md.

use std::fs;
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/shape.rs"]
mod shape;
use shape::values_file;

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
    // The same edit written as its three pieces (before, token, after): no second buffer.
    group.bench_function("read + set_parts + write", |b| {
        b.iter(|| {
            let bytes = fs::read(&input).expect("read");
            let edit = promote_values::set_parts("bench", &bytes, &path, "2.0.0").expect("set");
            let mut out = fs::File::create(&output).expect("create");
            for part in black_box(&edit.parts) {
                out.write_all(part).expect("write");
            }
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
