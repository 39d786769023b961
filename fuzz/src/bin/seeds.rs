//! Writes the seed corpora of the targets `module_intake`, `candid_args`, `most` and
//! `snapshot_upload` to `fuzz/corpus/<target>/`. Run with `cargo run --bin seeds` in `fuzz/`;
//! the test `committed_seeds_are_the_generated_ones` keeps them in step.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, seeds) in drydock_fuzz::seed_corpora() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            std::fs::write(dir.join(&name), bytes)?;
        }
        eprintln!("wrote {}", dir.display());
    }
    Ok(())
}
