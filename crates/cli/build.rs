//! Builds the upgrader canister (`canisters/upgrader`, Rust for wasm32-unknown-unknown) so that
//! `drydock upgrader wasm` can write it: the binary carries the module it was built with.
//!
//! The canister is built by a nested cargo in the canisters' own workspace, into a target
//! directory of its own (so it never waits on the lock of the outer build's): `upgrader-canister`
//! beside the outer build's `build/` directory (`target/debug/upgrader-canister`). It is not
//! under OUT_DIR, which is new whenever drydock-cli's dependencies or features change (a
//! `cargo install`, clippy): the nested build is then fresh instead of compiled again.
//! `DRYDOCK_UPGRADER_WASM=FILE` takes a prebuilt module instead.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let canisters = manifest.join("../../canisters");
    let out = out_dir.join("upgrader.wasm");
    for path in ["upgrader", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", canisters.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=DRYDOCK_UPGRADER_WASM");

    if let Some(prebuilt) = env::var_os("DRYDOCK_UPGRADER_WASM") {
        std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| {
            panic!(
                "DRYDOCK_UPGRADER_WASM={}: {e}",
                PathBuf::from(&prebuilt).display()
            )
        });
        return;
    }

    // OUT_DIR is <profile dir>/build/drydock-cli-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(3)
        .unwrap_or(&out_dir)
        .join("upgrader-canister");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&canisters)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            TARGET,
            "-p",
            "upgrader",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        // The outer build's flags (sanitizers, coverage, a host target) are not the canister's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .output()
        .unwrap_or_else(|e| panic!("running cargo to build the upgrader canister: {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if (stderr.contains(TARGET) && stderr.contains("not installed"))
            || stderr.contains("can't find crate for `core`")
        {
            format!("\nhint: the Rust target {TARGET} is missing: run `rustup target add {TARGET}` (scripts/quickstart.sh and scripts/test.sh add it)")
        } else {
            String::new()
        };
        panic!("building the upgrader canister (canisters/upgrader) failed:\n{stderr}{hint}");
    }
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join("upgrader.wasm");
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
}
