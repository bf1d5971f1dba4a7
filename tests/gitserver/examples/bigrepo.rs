//! Generates (or finds in the cache) the benchmark repository and reports its size and timing.
//!
//! `cargo run -p promote-gitserver --example bigrepo [-- COMMITS FILES APPS] [--fresh]`
//! `--fresh` generates into a temporary directory, bypassing the cache, to measure generation.

use std::time::Instant;

use promote_gitserver::{BigRepoSpec, cached_big_repo, describe_size, generate_big_repo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fresh = args.iter().any(|a| a == "--fresh");
    let numbers: Vec<usize> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let spec = match numbers.as_slice() {
        [] => BigRepoSpec::BENCHMARK,
        [commits, files, apps] => BigRepoSpec {
            commits: *commits,
            files: *files,
            apps: *apps,
        },
        _ => return Err("expected COMMITS FILES APPS".into()),
    };
    if fresh {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(spec.cache_name());
        let took = generate_big_repo(spec, &path)?;
        println!("{spec:?}: generated in {:.2}s", took.as_secs_f64());
        println!("{}", describe_size(&path)?);
    } else {
        let start = Instant::now();
        let repo = cached_big_repo(spec)?;
        match repo.generated_in {
            Some(took) => println!("{spec:?}: generated in {:.2}s", took.as_secs_f64()),
            None => println!(
                "{spec:?}: found in cache in {:.3}s",
                start.elapsed().as_secs_f64()
            ),
        }
        println!("{}", repo.path.display());
        println!("{}", describe_size(&repo.path)?);
    }
    Ok(())
}
