//! Compiled modules are cached by content: a second engine (a new process) on the same cache
//! directory loads the compiled artifact instead of compiling again.

use drydock_exec::Engine;

const MODULE: &str = r#"(module
  (import "ic0" "msg_reply" (func $reply))
  (memory 1)
  (func (export "canister_update ping") (call $reply)))"#;

#[test]
fn second_engine_reuses_the_compiled_module_from_the_cache_directory() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = wat::parse_str(MODULE).unwrap();
    let engine = Engine::new(Some(dir.path().to_path_buf())).unwrap();
    let first = engine.load(&wasm).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one compiled artifact: {files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("cwasm"));
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    // The same engine answers from memory: the very same module.
    let again = engine.load(&wasm).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    // A new engine deserialises the artifact and does not rewrite it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let engine2 = Engine::new(Some(dir.path().to_path_buf())).unwrap();
    let second = engine2.load(&wasm).unwrap();
    assert_eq!(second.prepared.module_hash, first.prepared.module_hash);
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_corrupt_cache_file_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = wat::parse_str(MODULE).unwrap();
    Engine::new(Some(dir.path().to_path_buf()))
        .unwrap()
        .load(&wasm)
        .unwrap();
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, b"garbage").unwrap();
    let engine = Engine::new(Some(dir.path().to_path_buf())).unwrap();
    engine.load(&wasm).unwrap();
    assert_ne!(std::fs::read(&file).unwrap(), b"garbage");
}
