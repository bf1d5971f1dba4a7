//! `set` on a typical 2 KiB values file and on a 1 MiB one, each next to its floor: reading
//! and writing the same bytes with no edit; and `set_parts`, the same edit written as its
//! three pieces. After criterion's groups, a paired measurement times the floor and both
//! edits in the same rounds, so the ratio holds under load that comes and goes
//! (`support/paired.rs`). Results and the ratios are in docs/benchmarks.md.

use std::fs;
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};

#[path = "support/shape.rs"]
mod shape;
use shape::values_file;

#[path = "support/paired.rs"]
mod paired;
use paired::{Budget, Selection};

/// The sizes measured: name, bytes, and the paired measurement's budget.
const SIZES: [(&str, usize, Budget); 2] = [
    (
        "2KiB",
        2 * 1024,
        Budget {
            warm_up: Duration::from_millis(500),
            rounds: 4000,
            time: Duration::from_secs(8),
        },
    ),
    (
        "1MiB",
        1024 * 1024,
        Budget {
            warm_up: Duration::from_millis(500),
            rounds: 1500,
            time: Duration::from_secs(15),
        },
    ),
];

/// One size's files and the path edited.
struct Case {
    content: String,
    input: PathBuf,
    output: PathBuf,
    path: String,
}

impl Case {
    fn new(name: &str, size: usize, dir: &Path) -> Self {
        let (content, last) = values_file(size);
        let input = dir.join(format!("{name}.yaml"));
        let output = dir.join(format!("{name}.out.yaml"));
        fs::write(&input, &content).expect("write the input");
        // The value to change sits in the last section: the whole file is parsed either way.
        let path = format!("service{last}.image.tag");
        let check = promote_values::set("bench", content.as_bytes(), &path, "2.0.0")
            .expect("the bench edit works");
        assert!(check.changed);
        eprintln!(
            "values {name}: {} bytes, {} sections",
            content.len(),
            last + 1
        );
        Case {
            content,
            input,
            output,
            path,
        }
    }

    fn floor(&self) {
        let bytes = fs::read(&self.input).expect("read");
        fs::write(&self.output, black_box(&bytes)).expect("write");
    }

    fn read_set_write(&self) {
        let bytes = fs::read(&self.input).expect("read");
        let edit = promote_values::set("bench", &bytes, &self.path, "2.0.0").expect("set");
        fs::write(&self.output, black_box(&edit.content)).expect("write");
    }

    /// The same edit written as its three pieces (before, token, after): no second buffer.
    fn read_set_parts_write(&self) {
        let bytes = fs::read(&self.input).expect("read");
        let edit = promote_values::set_parts("bench", &bytes, &self.path, "2.0.0").expect("set");
        let mut out = fs::File::create(&self.output).expect("create");
        for part in black_box(&edit.parts) {
            out.write_all(part).expect("write");
        }
    }
}

const FLOOR: &str = "floor: read + write";
const SET: &str = "read + set + write";
const SET_PARTS: &str = "read + set_parts + write";

fn bench_size(c: &mut Criterion, name: &str, size: usize, dir: &Path) {
    let case = Case::new(name, size, dir);
    let mut group = c.benchmark_group(format!("values {name}"));
    group.throughput(Throughput::Bytes(case.content.len() as u64));
    group.bench_function(FLOOR, |b| b.iter(|| case.floor()));
    group.bench_function(SET, |b| b.iter(|| case.read_set_write()));
    group.bench_function(SET_PARTS, |b| b.iter(|| case.read_set_parts_write()));
    group.bench_function("set alone (in memory)", |b| {
        b.iter(|| {
            promote_values::set(
                "bench",
                black_box(case.content.as_bytes()),
                &case.path,
                "2.0.0",
            )
            .expect("set")
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, size, _) in SIZES {
        bench_size(c, name, size, dir.path());
    }
}

/// The floor and both edits in the same rounds, for each size the filter accepts; its id is
/// `values <size>/paired`, so `-- paired` runs only this part.
fn paired_all() {
    let selection = Selection::from_args();
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, size, budget) in SIZES {
        let id = format!("values {name}/paired");
        if !selection.accepts(&id) {
            continue;
        }
        let case = Case::new(name, size, dir.path());
        paired::measure(
            &format!("values {name} paired"),
            &mut [
                (FLOOR, &mut || case.floor()),
                (SET, &mut || case.read_set_write()),
                (SET_PARTS, &mut || case.read_set_parts_write()),
            ],
            budget,
        );
    }
}

criterion_group! {
    name = set;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}

// criterion_main!, with the paired measurement after the groups.
fn main() {
    set();
    paired_all();
    Criterion::default().configure_from_args().final_summary();
}
