//! Measure commit latency on the file system holding `$TMPDIR` (or the
//! directory given as the first argument):
//!
//! ```text
//! cargo run --release -p drydock-state --example commit_latency [DIR]
//! ```
#![allow(clippy::print_stdout, reason = "a measurement tool prints its results")]

use std::time::{Duration, Instant};

use drydock_state::{Batch, StateError, Store, PAGE_SIZE};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn pages(count: u64, seed: u8) -> Vec<(u64, Vec<u8>)> {
    (0..count)
        .map(|i| (i, vec![seed.wrapping_add(i as u8) | 1; PAGE_SIZE as usize]))
        .collect()
}

fn measure(
    label: &str,
    runs: usize,
    mut f: impl FnMut(usize) -> Result<(), StateError>,
) -> Result<(), StateError> {
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = Instant::now();
        f(i)?;
        samples.push(start.elapsed());
    }
    let min = *samples.iter().min().unwrap_or(&Duration::ZERO);
    println!(
        "{label:<40} median {:>10.3?}  min {:>10.3?}  ({runs} runs)",
        median(samples),
        min
    );
    Ok(())
}

fn main() -> Result<(), StateError> {
    let base = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("drydock-state-latency-{}", std::process::id()));
    let mut store = Store::open(&dir)?;
    println!("state directory: {}", dir.display());

    measure("commit: 1 blob (64 B)", 200, |i| {
        let mut batch = Batch::new();
        batch.put_blob("k", vec![i as u8; 64]);
        store.commit(batch)
    })?;
    measure("commit: 1 page", 200, |i| {
        let mut batch = Batch::new();
        batch.write_memory("m1", false, 1024 * PAGE_SIZE, pages(1, i as u8));
        store.commit(batch)
    })?;
    measure("commit: 1000 pages (4 MB)", 20, |i| {
        let mut batch = Batch::new();
        batch.write_memory("m1000", false, 1024 * PAGE_SIZE, pages(1000, i as u8));
        store.commit(batch)
    })?;
    measure("checkpoint after one 1000-page commit", 5, |i| {
        let mut batch = Batch::new();
        batch.write_memory("m1000", false, 1024 * PAGE_SIZE, pages(1000, i as u8));
        store.commit(batch)?;
        store.checkpoint()
    })?;
    let module = vec![0x5A; 100 << 20];
    measure("put_content: 100 MiB", 3, |i| {
        let mut module = module.clone();
        module[0] = i as u8;
        store.put_content(&module).map(|_| ())
    })?;
    drop(store);
    let start = Instant::now();
    let store = Store::open(&dir)?;
    println!("{:<40} {:>17.3?}", "reopen", start.elapsed());
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
