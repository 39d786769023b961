//! The hotfix layout check on the hotfix_* fixtures, on variants of them, and on a real Rust
//! canister.

#![allow(clippy::print_stdout)] // the tests print the findings they check

use std::path::PathBuf;

use drydock_compat::layout::check_hotfix_layout;
use drydock_compat::{Area, Finding, Severity};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture_text(name: &str) -> String {
    let path = repo_root().join("fixtures/wat").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn wasm(text: &str) -> Vec<u8> {
    let wasm = wat::parse_str(text).expect("WAT parses");
    wasmparser::Validator::new()
        .validate_all(&wasm)
        .expect("the fixture validates");
    wasm
}

fn fixture(name: &str) -> Vec<u8> {
    wasm(&fixture_text(name))
}

/// v1 with one textual change (which must apply).
fn v1_with(from: &str, to: &str) -> Vec<u8> {
    let text = fixture_text("hotfix_v1.wat");
    assert!(text.contains(from), "hotfix_v1.wat has no `{from}`");
    wasm(&text.replacen(from, to, 1))
}

fn refused(old: &[u8], new: &[u8]) -> Finding {
    let f = check_hotfix_layout(old, new)
        .expect("modules parse")
        .expect("the layouts differ");
    println!("{f}");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.area, Area::Layout);
    assert!(f.hint.is_some());
    f
}

#[test]
fn v2_may_replace_v1() {
    let v1 = fixture("hotfix_v1.wat");
    let v2 = fixture("hotfix_v2.wat");
    assert_ne!(v1, v2, "the code differs");
    assert_eq!(check_hotfix_layout(&v1, &v2).expect("parses"), None);
    assert_eq!(check_hotfix_layout(&v1, &v1).expect("parses"), None);
}

#[test]
fn data_byte_differs() {
    let f = refused(
        &fixture("hotfix_v1.wat"),
        &fixture("hotfix_data_differs.wat"),
    );
    assert_eq!(f.code, "layout-data-segment");
    assert_eq!(f.path, "data segment 1");
    assert!(
        f.message
            .starts_with("differs at byte offset 0xe (old 0x75, new 0x6f, address 0x4e)"),
        "{}",
        f.message
    );
    assert_eq!(
        f.to_string().split(" — ").next().unwrap_or_default(),
        "error[layout-data-segment] data segment 1: differs at byte offset 0xe (old 0x75, new \
         0x6f, address 0x4e); 1 byte differs in all"
    );
}

#[test]
fn data_offset_length_and_count_differ() {
    let v1 = fixture("hotfix_v1.wat");
    let f = refused(
        &v1,
        &v1_with(
            r#"(data (i32.const 64) "pre_upgrade: bug")"#,
            r#"(data (i32.const 72) "pre_upgrade: bug")"#,
        ),
    );
    assert_eq!(f.code, "layout-data-segment");
    assert_eq!(f.path, "data segment 1");
    assert_eq!(
        f.message,
        "offset expression changed from i32.const 64 to i32.const 72"
    );

    let f = refused(
        &v1,
        &v1_with(
            r#"(data (i32.const 64) "pre_upgrade: bug")"#,
            r#"(data (i32.const 64) "pre_upgrade: bug!")"#,
        ),
    );
    assert!(
        f.message
            .contains("is 0x10 bytes long in the old module and 0x11"),
        "{}",
        f.message
    );

    let f = refused(
        &v1,
        &v1_with(
            r#"(data (i32.const 64) "pre_upgrade: bug")"#,
            r#"(data (i32.const 64) "pre_upgrade: bug") (data (i32.const 96) "x")"#,
        ),
    );
    assert_eq!(f.path, "data segments");
}

#[test]
fn global_init_changed() {
    let f = refused(
        &fixture("hotfix_v1.wat"),
        &v1_with(
            "(global $heap_base i32 (i32.const 1024))",
            "(global $heap_base i32 (i32.const 2048))",
        ),
    );
    assert_eq!(f.code, "layout-global");
    assert_eq!(f.path, "global 1");
    assert!(
        f.message
            .starts_with("initial value changed from i32.const 1024 to i32.const 2048"),
        "{}",
        f.message
    );
}

#[test]
fn global_type_or_count_changed() {
    let v1 = fixture("hotfix_v1.wat");
    let f = refused(
        &v1,
        &v1_with("(global $heap_base i32", "(global $heap_base (mut i32)"),
    );
    assert_eq!(f.code, "layout-global");
    assert_eq!(f.message, "type changed from i32 to mut i32");
    let f = refused(
        &v1,
        &v1_with(
            "(global $heap_base i32 (i32.const 1024))",
            "(global $heap_base i32 (i32.const 1024)) (global $extra i64 (i64.const 0))",
        ),
    );
    assert_eq!(f.code, "layout-global");
    assert_eq!(f.path, "globals");
}

#[test]
fn table_size_changed() {
    let f = refused(
        &fixture("hotfix_v1.wat"),
        &v1_with("(table 2 2 funcref)", "(table 3 3 funcref)"),
    );
    assert_eq!(f.code, "layout-table");
    assert_eq!(f.path, "table 0");
    assert_eq!(f.message, "initial size changed from 2 to 3 entries");
}

#[test]
fn element_segment_changed() {
    let v1 = fixture("hotfix_v1.wat");
    // The table entries swapped (the call_indirect types then trap, but the module is valid).
    let f = refused(
        &v1,
        &v1_with(
            "(elem (i32.const 0) $bump $read)",
            "(elem (i32.const 0) $read $bump)",
        ),
    );
    assert_eq!(f.code, "layout-element");
    assert_eq!(f.path, "element segment 0, entry 0");
    assert!(
        f.message
            .starts_with("is function 3 in the old module and function 4 in the new one"),
        "{}",
        f.message
    );
    // Moved within the table.
    let f = refused(
        &v1,
        &v1_with(
            "(table 2 2 funcref)\n  (elem (i32.const 0) $bump $read)",
            "(table 2 2 funcref)\n  (elem (i32.const 1) $bump)",
        ),
    );
    assert_eq!(f.code, "layout-element");
    assert_eq!(
        f.message,
        "offset expression changed from i32.const 0 to i32.const 1"
    );
}

#[test]
fn imported_functions_changed() {
    let v1 = fixture("hotfix_v1.wat");
    let f = refused(
        &v1,
        &v1_with(
            r#"(import "ic0" "trap" (func $trap (param i32 i32)))"#,
            r#"(import "ic0" "trap" (func $trap (param i32 i32)))
               (import "ic0" "debug_print" (func $print (param i32 i32)))"#,
        ),
    );
    assert_eq!(f.code, "layout-imports");
    assert!(f.message.contains("shifts by 1"), "{}", f.message);
    let f = refused(
        &v1,
        &v1_with(
            r#"(import "ic0" "trap" (func $trap (param i32 i32)))"#,
            r#"(import "ic0" "debug_print" (func $trap (param i32 i32)))"#,
        ),
    );
    assert_eq!(f.path, "imported function 2");
    assert!(f
        .message
        .starts_with("is ic0.trap in the old module and ic0.debug_print"));
}

#[test]
fn memory_changed() {
    let f = refused(
        &fixture("hotfix_v1.wat"),
        &v1_with(
            r#"(memory (export "memory") 1)"#,
            r#"(memory (export "memory") 2)"#,
        ),
    );
    assert_eq!(f.code, "layout-memory");
    assert_eq!(f.path, "memory 0");
    assert!(f
        .message
        .starts_with("initial size changed from 1 to 2 pages"));
}

#[test]
fn code_only_changes_and_function_count_are_fine() {
    let v1 = fixture("hotfix_v1.wat");
    // An extra defined function after every tabled one keeps the table's indices.
    let new = v1_with(
        r#"(func (export "canister_pre_upgrade")"#,
        r#"(func (export "canister_query extra") (call $reply))
  (func (export "canister_pre_upgrade")"#,
    );
    assert_eq!(check_hotfix_layout(&v1, &new).expect("parses"), None);
}

#[test]
fn malformed_is_an_error() {
    let v1 = fixture("hotfix_v1.wat");
    assert!(check_hotfix_layout(&v1, b"nope").is_err());
    assert!(check_hotfix_layout(&v1[..v1.len() - 1], &v1).is_err());
}

#[test]
fn real_rust_canister_against_itself() {
    let path = repo_root().join("target/test-canisters/brickable.wasm");
    let wasm = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the test canisters first with scripts/build-test-canisters.sh",
            path.display()
        )
    });
    assert_eq!(check_hotfix_layout(&wasm, &wasm).expect("parses"), None);
    // brickable_hotfix is brickable with a code-only change (scripts/inspect-wasm.js
    // --same-layout agrees): accepted.
    let hotfix = repo_root().join("target/test-canisters/brickable_hotfix.wasm");
    let hotfix = std::fs::read(&hotfix).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the test canisters first with scripts/build-test-canisters.sh",
            hotfix.display()
        )
    });
    assert_eq!(check_hotfix_layout(&wasm, &hotfix).expect("parses"), None);
    // And brickable_v2, a different build, is most likely refused (its data moved); whatever
    // the verdict, the check must not fail.
    let v2 = repo_root().join("target/test-canisters/brickable_v2.wasm");
    if let Ok(v2) = std::fs::read(v2) {
        if let Some(f) = check_hotfix_layout(&wasm, &v2).expect("parses") {
            println!("brickable -> brickable_v2: {f}");
        }
    }
}
