//! Wasm module intake, `drydock_exec::module::prepare`: what every `install_code` runs on the
//! bytes it is given (gunzip, size limits, validation, the IC's structural rules,
//! instrumentation), built without wasmtime.
//!
//! Promises checked:
//! - any bytes give `Ok` or `Err`, never a panic;
//! - an error is never [`ModuleError::Instrumentation`] (that is drydock's bug, not the
//!   module's fault);
//! - an accepted module's instrumented output is valid Wasm under drydock's features, and
//!   preparing the same bytes again gives the same output (the compiled-module cache is keyed
//!   by it).

use drydock_exec::module::{prepare, wasm_features, ModuleError};

/// Prepares `bytes` and checks the promises above. Panics only if one is broken.
pub fn prepare_bytes(bytes: &[u8]) {
    match prepare(bytes) {
        Ok(prepared) => {
            if let Err(e) = wasmparser::Validator::new_with_features(wasm_features())
                .validate_all(&prepared.wasm)
            {
                panic!("intake accepted a module whose instrumented output is invalid: {e}");
            }
            let again = prepare(bytes).expect("the same bytes were accepted a moment ago");
            assert_eq!(
                again.wasm, prepared.wasm,
                "instrumentation is not deterministic"
            );
            assert_eq!(again.module_hash, prepared.module_hash);
        }
        Err(ModuleError::Instrumentation(e)) => {
            panic!("a valid module made instrumentation fail (a drydock bug): {e}")
        }
        Err(_) => {}
    }
}

/// The seeds: every WAT fixture of `fixtures/wat`, compiled (and one gzipped).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/wat");
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let wasm = wat::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((format!("{name}.wasm"), wasm));
    }
    if let Some((_, counter)) = out.iter().find(|(n, _)| n == "counter.wasm") {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(counter).expect("in memory");
        out.push(("counter.wasm.gz".into(), gz.finish().expect("in memory")));
    }
    out
}
