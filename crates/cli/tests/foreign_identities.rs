//! A user signs with the identities they already have: icp-cli's and dfx's identity stores
//! (plaintext PEM keys, secp256k1 as icp-cli makes them), and `--pem FILE`. A key kept
//! encrypted or in a keyring is refused with a message that says how to use it anyway.
//!
//! icp-cli 1.5 (from `clients/`) makes the identities, in a home directory of the test's own.

mod common;
mod e2e;

use std::path::Path;
use std::process::Command;

use common::{command, Run};
use e2e::{icp_bin, Ran};

/// `icp ARGS` with `home` as its home directory.
fn icp(home: &Path, args: &[&str]) -> String {
    let out = Command::new(icp_bin())
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("run icp");
    Ran::new(format!("icp {args:?}"), out).ok()
}

/// `drydock ARGS` on `state` with `home` as its home directory.
fn drydock(home: &Path, state: &Path, args: &[&str]) -> Run {
    Run::from(
        command(state)
            .args(args)
            .env("HOME", home)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .expect("run drydock"),
    )
}

#[test]
fn a_user_signs_with_their_icp_cli_and_dfx_identities_and_a_pem_file() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let h = home.path();
    let pw = h.join("pw");
    std::fs::write(&pw, "a password of some length\n").unwrap();
    icp(
        h,
        &[
            "identity",
            "new",
            "alice",
            "--storage",
            "plaintext",
            "--output-seed",
            h.join("seed1").to_str().unwrap(),
        ],
    );
    icp(
        h,
        &[
            "identity",
            "new",
            "bob",
            "--storage",
            "password",
            "--storage-password-file",
            pw.to_str().unwrap(),
            "--output-seed",
            h.join("seed2").to_str().unwrap(),
        ],
    );
    let alice = icp(h, &["identity", "principal", "--identity", "alice"]);
    let alice = alice.lines().last().unwrap().trim().to_string();

    // icp-cli's plaintext identity: the same principal, and it controls what it creates.
    for _ in 0..2 {
        let p = drydock(h, &state, &["--identity", "alice", "identity", "principal"]).ok();
        assert_eq!(p, alice);
    }
    let id = drydock(h, &state, &["--identity", "alice", "canister", "create"]).ok();
    let status = drydock(
        h,
        &state,
        &["--identity", "alice", "canister", "status", &id],
    )
    .ok();
    assert!(
        status.contains(&alice),
        "alice controls her canister: {status}"
    );
    // Another identity is not a controller.
    let other = drydock(h, &state, &["canister", "status", &id]).fails(1);
    assert!(other.contains("controller"), "{other}");

    // icp-cli's password-protected identity: refused, saying why and what to do.
    let bob = drydock(h, &state, &["--identity", "bob", "canister", "create"]).fails(2);
    assert!(
        bob.contains("encrypted") && bob.contains("icp identity export bob"),
        "{bob}"
    );

    // dfx's store: a plaintext identity.pem (here alice's key), and an encrypted one.
    let keys = h.join(".local/share/icp-cli/identity/keys");
    let dave = h.join(".config/dfx/identity/dave");
    std::fs::create_dir_all(&dave).unwrap();
    std::fs::copy(keys.join("alice.pem"), dave.join("identity.pem")).unwrap();
    let p = drydock(h, &state, &["--identity", "dave", "identity", "principal"]).ok();
    assert_eq!(p, alice, "dfx's dave holds alice's key");
    let erin = h.join(".config/dfx/identity/erin");
    std::fs::create_dir_all(&erin).unwrap();
    std::fs::write(erin.join("identity.pem.encrypted"), b"not readable").unwrap();
    std::fs::write(
        erin.join("identity.json"),
        br#"{"encryption":{"pw_salt":"x","file_nonce":[]}}"#,
    )
    .unwrap();
    let e = drydock(h, &state, &["--identity", "erin", "identity", "principal"]).fails(2);
    assert!(
        e.contains("encrypted with a password") && e.contains("dfx identity export erin"),
        "{e}"
    );

    // --pem FILE, and a name found nowhere.
    let pem = keys.join("alice.pem");
    let p = drydock(
        h,
        &state,
        &["--pem", pem.to_str().unwrap(), "identity", "principal"],
    )
    .ok();
    assert_eq!(p, alice);
    let status = drydock(
        h,
        &state,
        &["--pem", pem.to_str().unwrap(), "canister", "status", &id],
    )
    .ok();
    assert!(status.contains(&alice), "{status}");
    let missing = drydock(h, &state, &["--identity", "nobody", "canister", "create"]).fails(2);
    assert!(
        missing.contains("nobody") && missing.contains("icp-cli") && missing.contains("dfx"),
        "{missing}"
    );
}
