//! Writes the seed corpus of the `envelope` target to `fuzz/corpus/envelope/` (the seeds are
//! deterministic: fixed keys, fixed expiry). Run with `cargo run --bin envelope-seeds` in
//! `fuzz/`; the test `committed_seeds_are_the_generated_ones` keeps the two in step.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/envelope");
    std::fs::create_dir_all(&dir)?;
    for (name, spec) in drydock_fuzz::envelope::seeds() {
        let path = dir.join(format!("{name}.cbor"));
        std::fs::write(&path, spec.body())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
