//! The Wasm structure checks, one WAT module pair per finding.

#![allow(clippy::print_stdout)] // the tests print the findings they check

use drydock_compat::wasm::{self, ImportKind, MethodMode, ModuleInfo};
use drydock_compat::{Area, Finding, Severity};

fn module(body: &str) -> ModuleInfo {
    let wasm = wat::parse_str(format!("(module {body})")).expect("WAT parses");
    wasm::parse_module(&wasm).expect("parses")
}

fn ic0_only(module: &str, _name: &str) -> bool {
    module == "ic0"
}

fn check(old: &str, new: &str) -> Vec<Finding> {
    let findings = wasm::check_structure(&module(old), &module(new), &ic0_only);
    for f in &findings {
        assert_eq!(f.area, Area::Wasm);
        println!("{f}");
    }
    findings
}

fn codes(findings: &[Finding]) -> Vec<(&str, Severity)> {
    findings
        .iter()
        .map(|f| (f.code.as_str(), f.severity))
        .collect()
}

const BASE: &str = r#"
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (func (export "canister_update set") (call $reply))
  (func (export "canister_query get") (call $reply))
  (func (export "canister_composite_query both") (call $reply))
  (func (export "canister_init"))
  (func (export "canister_pre_upgrade"))
  (func (export "canister_post_upgrade"))
  (func (export "canister_heartbeat"))
  (func (export "canister_global_timer"))
  (func (export "canister_inspect_message"))
"#;

#[test]
fn parses_exports_imports_and_sections() {
    let info = module(&format!(
        r#"{BASE} (@custom "icp:private enhanced-orthogonal-persistence" "x")
           (@custom "icp:public candid:service" "service : {{}}")
           (@custom "name-ish" "")"#
    ));
    let methods: Vec<(&str, MethodMode)> = info
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.mode))
        .collect();
    assert_eq!(
        methods,
        [
            ("set", MethodMode::Update),
            ("get", MethodMode::Query),
            ("both", MethodMode::CompositeQuery)
        ]
    );
    assert!(info.has_system_export("canister_pre_upgrade"));
    assert!(info.has_system_export("canister_inspect_message"));
    assert_eq!(info.system_exports.len(), 6);
    assert_eq!(info.imports.len(), 1);
    assert_eq!(info.imports[0].module, "ic0");
    assert_eq!(info.imports[0].name, "msg_reply");
    assert_eq!(info.imports[0].kind, ImportKind::Func);
    assert!(info.has_memory && !info.memory64);
    assert!(info.eop);
    // (wat adds a `name` section for the `$reply` identifier.)
    assert_eq!(
        info.custom_sections[..3],
        [
            "icp:private enhanced-orthogonal-persistence",
            "icp:public candid:service",
            "name-ish"
        ]
    );
    assert_eq!(info.metadata.len(), 2);
}

#[test]
fn gzipped_module_parses() {
    use std::io::Write;
    let wasm = wat::parse_str(format!("(module {BASE})")).expect("WAT parses");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&wasm).expect("gzip");
    let info = wasm::parse_module(&e.finish().expect("gzip")).expect("parses gzip");
    assert_eq!(info.methods.len(), 3);
}

#[test]
fn malformed_module_is_an_error() {
    assert!(wasm::parse_module(b"\0asm\x01\0\0\0\x07\x05").is_err());
    assert!(wasm::parse_module(b"hello").is_err());
}

#[test]
fn identical_modules_have_no_findings() {
    assert!(check(BASE, BASE).is_empty());
    let eop = r#"(memory i64 1) (@custom "icp:private enhanced-orthogonal-persistence" "")"#;
    assert!(check(eop, eop).is_empty());
}

#[test]
fn method_removed() {
    let new = BASE.replace(r#"(func (export "canister_update set") (call $reply))"#, "");
    let f = check(BASE, &new);
    assert_eq!(codes(&f), [("wasm-method-removed", Severity::Error)]);
    assert_eq!(f[0].path, "method `set`");
    assert!(f[0].message.contains("even when the Candid text hides it"));
    assert!(f[0].hint.is_some());
}

#[test]
fn method_mode_changed() {
    for (from, to) in [
        ("canister_update set", "canister_query set"),
        ("canister_query get", "canister_update get"),
        ("canister_composite_query both", "canister_query both"),
    ] {
        let new = BASE.replace(from, to);
        let f = check(BASE, &new);
        assert_eq!(
            codes(&f),
            [("wasm-method-mode-changed", Severity::Error)],
            "{from}"
        );
        assert!(
            f[0].message.starts_with("changes from "),
            "{}",
            f[0].message
        );
    }
}

#[test]
fn method_added() {
    let new = format!(r#"{BASE} (func (export "canister_query extra") (call $reply))"#);
    let f = check(BASE, &new);
    assert_eq!(codes(&f), [("wasm-method-added", Severity::Info)]);
    assert_eq!(f[0].path, "method `extra`");
}

#[test]
fn pre_upgrade_lost() {
    let new = BASE.replace(r#"(func (export "canister_pre_upgrade"))"#, "");
    let f = check(BASE, &new);
    assert_eq!(codes(&f), [("wasm-pre-upgrade-lost", Severity::Warning)]);
    assert!(f[0].message.contains("next upgrade will not serialise"));
}

#[test]
fn post_upgrade_lost() {
    let new = BASE.replace(r#"(func (export "canister_post_upgrade"))"#, "");
    let f = check(BASE, &new);
    assert_eq!(codes(&f), [("wasm-post-upgrade-lost", Severity::Warning)]);
    // Without a pre_upgrade in the old module there is nothing saved to read back.
    let old = BASE.replace(r#"(func (export "canister_pre_upgrade"))"#, "");
    let new = old.replace(r#"(func (export "canister_post_upgrade"))"#, "");
    assert!(check(&old, &new).is_empty());
}

#[test]
fn system_exports_removed() {
    for name in [
        "canister_heartbeat",
        "canister_global_timer",
        "canister_inspect_message",
    ] {
        let new = BASE.replace(&format!(r#"(func (export "{name}"))"#), "");
        let f = check(BASE, &new);
        assert_eq!(
            codes(&f),
            [("wasm-system-export-removed", Severity::Warning)],
            "{name}"
        );
        assert_eq!(f[0].path, name);
    }
    // canister_init does not matter to an upgrade.
    let new = BASE.replace(r#"(func (export "canister_init"))"#, "");
    assert!(check(BASE, &new).is_empty());
}

#[test]
fn eop_changed() {
    let eop = format!(r#"{BASE} (@custom "icp:private enhanced-orthogonal-persistence" "")"#);
    let f = check(&eop, BASE);
    assert_eq!(codes(&f), [("wasm-eop-changed", Severity::Error)]);
    assert!(f[0].message.contains(
        "switching from enhanced orthogonal persistence to classic persistence loses the heap"
    ));
    let f = check(BASE, &eop);
    assert_eq!(codes(&f), [("wasm-eop-changed", Severity::Warning)]);
    // The public marker counts too.
    let public = format!(r#"{BASE} (@custom "icp:public enhanced-orthogonal-persistence" "")"#);
    assert!(check(&eop, &public).is_empty());
}

#[test]
fn memory64_changed() {
    let m64 = BASE.replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") i64 1)",
    );
    let f = check(BASE, &m64);
    assert_eq!(codes(&f), [("wasm-memory64-changed", Severity::Warning)]);
    let f = check(&m64, BASE);
    assert_eq!(codes(&f), [("wasm-memory64-changed", Severity::Warning)]);
}

#[test]
fn import_unavailable() {
    let new = format!(
        r#"(import "env" "foo" (func)) (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) {BASE}"#
    );
    let f = check(BASE, &new);
    assert_eq!(
        codes(&f),
        [
            ("wasm-import-unavailable", Severity::Error),
            ("wasm-import-unavailable", Severity::Error)
        ]
    );
    assert_eq!(f[0].path, "import env.foo");
    assert!(f[0].message.contains(
        "drydock (and the IC) cannot provide env.foo; the module would be rejected at install"
    ));
    // The provider decides, per name.
    let new = format!(r#"(import "ic0" "not_a_function" (func)) {BASE}"#);
    let only_reply = |m: &str, n: &str| m == "ic0" && n == "msg_reply";
    let f = wasm::check_structure(&module(BASE), &module(&new), &only_reply);
    assert_eq!(codes(&f), [("wasm-import-unavailable", Severity::Error)]);
    assert!(f[0].message.contains("ic0.not_a_function"));
}

#[test]
fn display_lines() {
    let new = BASE.replace("canister_query get", "canister_update get");
    let f = check(BASE, &new);
    let line = f[0].to_string();
    assert!(
        line.starts_with(
            "error[wasm-method-mode-changed] method `get`: changes from query to update"
        ),
        "{line}"
    );
}
