//! `drydock upgrader`: the upgrader canister this binary carries (`canisters/upgrader`, built
//! by `build.rs`), written out for deployment on drydock or on the IC.

use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cli::UpgraderCommand;
use crate::error::CliError;
use crate::output::{self, Output};

/// The upgrader's Wasm module, as built with this binary.
pub const WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/upgrader.wasm"));
/// Its Candid interface.
pub const DID: &str = include_str!("../../../canisters/upgrader/upgrader.did");

pub fn run(cmd: UpgraderCommand, out: Output) -> Result<(), CliError> {
    match cmd {
        UpgraderCommand::Wasm { output: path } => write(&path, WASM, out),
        UpgraderCommand::Did { output: Some(path) } => write(&path, DID.as_bytes(), out),
        UpgraderCommand::Did { output: None } => {
            out.data(|| DID.to_string(), || json!({ "did": DID }));
            Ok(())
        }
    }
}

fn write(path: &Path, bytes: &[u8], out: Output) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
    let sha = hex::encode(Sha256::digest(bytes));
    output::note(format!(
        "wrote {} ({} bytes, sha256 {sha})",
        path.display(),
        bytes.len()
    ));
    out.data(
        String::new,
        || json!({ "path": path.display().to_string(), "bytes": bytes.len(), "sha256": sha }),
    );
    Ok(())
}
