//! `canister install` and `canister upgrade` with modules over one message (2 MiB): the CLI
//! uploads them to the chunk store and sends `install_chunked_code`, as icp-cli does.

mod common;

use common::{test_canister, Drydock};

/// `wasm` with a custom section `padding` of `len` bytes appended.
fn padded(wasm: &[u8], len: usize) -> Vec<u8> {
    let name = b"padding";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.resize(body.len() + len, 0xab);
    let mut out = wasm.to_vec();
    out.push(0);
    let mut n = body.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend(body);
    out
}

/// Test canister `name` padded past 3 MiB, written beside `dd`'s state directory.
fn big(dd: &Drydock, name: &str) -> String {
    let wasm = std::fs::read(test_canister(name)).expect("read");
    let out = dd.state().with_extension(format!("big-{name}"));
    std::fs::write(&out, padded(&wasm, 3 << 20)).expect("write");
    out.to_str().unwrap().to_string()
}

#[test]
fn modules_over_2_mib_install_and_upgrade_through_the_chunk_store() {
    let dd = Drydock::new();
    let (v1, v2) = (big(&dd, "kv.wasm"), big(&dd, "kv_v2.wasm"));
    assert!(std::fs::metadata(&v1).unwrap().len() > 3 << 20);
    let id = dd.create_canister();
    let run = dd.run(&["canister", "install", &id, &v1]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("uploading it in 4 chunks"),
        "{}",
        run.stderr
    );
    dd.run(&["canister", "call", &id, "put", "(\"k\", \"v\")"])
        .ok();
    let run = dd.run(&["canister", "upgrade", &id, &v2]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        dd.run(&["canister", "call", &id, "version"]).ok(),
        "(\"v2\")"
    );
    assert_eq!(
        dd.run(&["canister", "call", &id, "get", "(\"k\")"]).ok(),
        "(opt \"v\")"
    );
    // The module hash is the whole module's, and the chunk store was cleared afterwards.
    let info = dd.run(&["canister", "info", &id, "--json"]).json();
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&v2).unwrap()))
    };
    assert_eq!(info["module_hash"], expected);
    let mut replica = common::open_when_unlocked(&dd.state());
    let canister = drydock_replica::Principal::from_text(&id).unwrap();
    let controller = replica.canister(&canister).unwrap().settings.controllers[0];
    let arg = candid::encode_one(ic_management_canister_types::CanisterIdRecord {
        canister_id: canister,
    })
    .unwrap();
    let reply = replica
        .update(
            controller,
            drydock_replica::MANAGEMENT_CANISTER,
            "stored_chunks",
            &arg,
        )
        .unwrap();
    let stored: Vec<ic_management_canister_types::ChunkHash> = candid::decode_one(&reply).unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

// The same over `--network`: install and the safe upgrade go through the network's chunk
// store, as icp-cli's do against the IC.
#[test]
fn modules_over_2_mib_install_and_upgrade_through_the_chunk_store_over_the_network() {
    let dd = Drydock::new();
    let (v1, v2) = (big(&dd, "kv.wasm"), big(&dd, "kv_v2.wasm"));
    let id = dd.create_canister();
    let server = dd.serve();
    let run = server.run(&["canister", "install", &id, &v1]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("uploading it in 4 chunks"),
        "{}",
        run.stderr
    );
    server
        .run(&["canister", "call", &id, "put", "(\"k\", \"v\")"])
        .ok();
    let run = server.run(&[
        "canister",
        "upgrade",
        &id,
        &v2,
        "--health-check",
        "get (\"k\") => (opt \"v\")",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("uploading it in 4 chunks"),
        "{}",
        run.stderr
    );
    assert_eq!(
        server.run(&["canister", "call", &id, "version"]).ok(),
        "(\"v2\")"
    );
    let info = server.run(&["canister", "info", &id, "--json"]).json();
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&v2).unwrap()))
    };
    assert_eq!(info["module_hash"], expected);
}
