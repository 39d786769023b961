//! A module that is wrong is the canister's fault: `drydock canister install` reports the IC's
//! error code (IC0505 for a module that cannot be instantiated, IC0502 for a trapping start
//! function) and exits with 1, never with 3 ("a failure of drydock itself").

mod common;

use std::path::{Path, PathBuf};

use common::Drydock;

/// The WAT fixture `name` compiled into `dir`.
fn fixture(dir: &Path, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/wat")
        .join(format!("{name}.wat"));
    let bytes = wat::parse_file(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let out = dir.join(format!("{name}.wasm"));
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn installing_a_module_that_cannot_be_instantiated_exits_1_with_ic0505() {
    let d = Drydock::new();
    let tmp = tempfile::tempdir().unwrap();
    for (name, names) in [
        ("data_out_of_bounds", "out of bounds"),
        ("elem_out_of_bounds", "out of bounds"),
        ("memory_too_large", "maximum"),
        ("table_too_large", "table"),
        ("memory_over_wasm_memory_limit", "wasm_memory_limit"),
    ] {
        let id = d.create_canister();
        let wasm = fixture(tmp.path(), name);
        let run = d.run(&["canister", "install", &id, wasm.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert!(run.stderr.contains("IC0505"), "{name}: {}", run.stderr);
        assert!(run.stderr.contains(names), "{name}: {}", run.stderr);
        // Nothing was installed, and drydock goes on working.
        let status = d.run(&["canister", "status", &id, "--json"]).json();
        assert!(
            status["module_hash"].is_null(),
            "{name}: a module was installed: {status}"
        );
    }
}

#[test]
fn installing_a_module_whose_start_function_traps_exits_1_with_ic0502() {
    let d = Drydock::new();
    let tmp = tempfile::tempdir().unwrap();
    let id = d.create_canister();
    let wasm = fixture(tmp.path(), "start_traps");
    let run = d.run(&["canister", "install", &id, wasm.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("IC0502"), "{}", run.stderr);
}
