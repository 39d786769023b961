//! `drydock canister metadata` on sections written with `drydock_compat::metadata`: public
//! sections for anyone, private ones for controllers only.

mod common;

use common::{test_canister, Drydock};
use drydock_compat::metadata::{self, Visibility};

#[test]
fn private_metadata_is_served_only_to_controllers() {
    let dd = Drydock::new();
    let kv = std::fs::read(test_canister("kv.wasm")).expect("kv.wasm");
    let wasm = metadata::write(&kv, "build:secret", Visibility::Private, b"s3cr3t").expect("write");
    let wasm =
        metadata::write(&wasm, "build:info", Visibility::Public, b"built here").expect("write");
    // The writer keeps the module valid and the sections readable.
    let sections = metadata::read(&wasm).expect("read");
    assert!(sections
        .iter()
        .any(|s| s.name == "build:secret" && s.visibility == Visibility::Private));
    let file = dd.state().with_extension("kv-meta.wasm");
    std::fs::write(&file, &wasm).expect("write wasm");

    let id = dd.create_canister();
    dd.run(&["canister", "install", &id, file.to_str().unwrap()])
        .ok();
    dd.run(&["identity", "new", "stranger"]).ok();

    // A controller sees both.
    assert_eq!(
        dd.run(&["canister", "metadata", &id, "build:secret"]).ok(),
        "s3cr3t"
    );
    let list = dd.run(&["canister", "metadata", &id]).ok();
    assert!(list.contains("private build:secret"), "{list}");
    assert!(list.contains("public build:info"), "{list}");
    assert!(list.contains("public candid:service"), "{list}");

    // Anyone else: the public ones only; a private one is refused by name.
    let as_stranger = |args: &[&str]| {
        let mut all = vec!["--identity", "stranger"];
        all.extend_from_slice(args);
        dd.run(&all)
    };
    assert_eq!(
        as_stranger(&["canister", "metadata", &id, "build:info"]).ok(),
        "built here"
    );
    let err = as_stranger(&["canister", "metadata", &id, "build:secret"]).fails(1);
    assert!(err.contains("private"), "{err}");
    let list = as_stranger(&["canister", "metadata", &id]).ok();
    assert!(!list.contains("build:secret"), "{list}");
    assert!(list.contains("public build:info"), "{list}");

    // Removing a section works on the file too.
    let stripped = metadata::remove(&wasm, "build:secret").expect("remove");
    assert!(metadata::read(&stripped)
        .expect("read")
        .iter()
        .all(|s| s.name != "build:secret"));
}
