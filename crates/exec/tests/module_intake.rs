//! Module intake: `drydock_exec::module::prepare` on hand-made and real canister modules.

use std::io::Write;
use std::path::PathBuf;

use drydock_exec::module::{
    global_export_name, prepare, wasm_features, ModuleError, PreparedModule,
    MAX_CODE_SECTION_BYTES, MAX_ICP_CUSTOM_SECTIONS_BYTES, MAX_WASM_MODULE_BYTES, MEMORY_EXPORT,
    START_EXPORT,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use wasmparser::{ExternalKind, Parser, Payload};

// ---------------------------------------------------------------------------------------------
// helpers

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test WAT must parse")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

/// Appends a custom section to a module (custom sections may come anywhere).
fn with_custom(mut wasm: Vec<u8>, name: &str, data: &[u8]) -> Vec<u8> {
    use wasm_encoder::{CustomSection, Encode, Section};
    let section = CustomSection {
        name: name.into(),
        data: data.into(),
    };
    wasm.push(section.id());
    section.encode(&mut wasm);
    wasm
}

/// The instrumented output must validate with the features intake accepts.
fn assert_valid(wasm: &[u8]) {
    wasmparser::Validator::new_with_features(wasm_features())
        .validate_all(wasm)
        .unwrap_or_else(|e| panic!("instrumented module does not validate: {e}"));
}

fn exports_of(wasm: &[u8]) -> Vec<(String, ExternalKind, u32)> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::ExportSection(reader) = payload.unwrap() {
            for e in reader {
                let e = e.unwrap();
                out.push((e.name.to_string(), e.kind, e.index));
            }
        }
    }
    out
}

fn has_start_section(wasm: &[u8]) -> bool {
    Parser::new(0)
        .parse_all(wasm)
        .any(|p| matches!(p, Ok(Payload::StartSection { .. })))
}

/// The raw bytes of every non-export, non-start section, in order: instrumentation must leave
/// them untouched.
fn untouched_sections(wasm: &[u8]) -> Vec<(u8, Vec<u8>)> {
    Parser::new(0)
        .parse_all(wasm)
        .filter_map(|p| p.unwrap().as_section())
        .filter(|(id, _)| *id != 7 && *id != 8)
        .map(|(id, range)| (id, wasm[range].to_vec()))
        .collect()
}

fn ok(wasm: &[u8]) -> PreparedModule {
    let prepared = prepare(wasm).unwrap_or_else(|e| panic!("prepare failed: {e}"));
    assert_valid(&prepared.wasm);
    prepared
}

fn err(wasm: &[u8]) -> ModuleError {
    match prepare(wasm) {
        Ok(p) => panic!("prepare accepted a module it should refuse: {p:?}"),
        Err(e) => e,
    }
}

const COUNTER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "debug_print" (func $print (param i32 i32)))
  (memory 1)
  (global $count (mut i64) (i64.const 0))
  (global $answer i32 (i32.const 42))
  (global $ratio (mut f32) (f32.const 1.5))
  (func $inc (global.set $count (i64.add (global.get $count) (i64.const 1))) (call $reply))
  (func $get (call $reply))
  (func $init)
  (export "canister_update inc" (func $inc))
  (export "canister_query get" (func $get))
  (export "canister_composite_query cq" (func $get))
  (export "canister_init" (func $init))
  (export "memory" (memory 0))
  (export "helper" (func $inc))
  (data (i32.const 16) "hello")
  (data "passive segment")
)
"#;

// ---------------------------------------------------------------------------------------------
// intake: size, gzip, magic

#[test]
fn not_wasm_is_refused_with_a_clear_error() {
    let e = err(b"hello world, not a module");
    assert!(matches!(e, ModuleError::NotWasm(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("\\0asm"), "{msg}");
    assert!(
        msg.contains("68 65 6c 6c 6f"),
        "message names the bytes found: {msg}"
    );

    let msg = err(b"(module (func))").to_string();
    assert!(msg.contains("WebAssembly text"), "{msg}");

    let msg = err(b"").to_string();
    assert!(msg.contains("empty"), "{msg}");

    // The gunzipped content is checked too.
    let msg = err(&gzip(b"just text")).to_string();
    assert!(
        msg.contains("gunzipped content is not a Wasm module"),
        "{msg}"
    );

    // The magic alone, without a version, is invalid rather than "not Wasm".
    assert!(matches!(err(b"\0asm"), ModuleError::Invalid(_)));
    // A component is named as such.
    let msg = err(b"\0asm\x0d\x00\x01\x00").to_string();
    assert!(msg.contains("component"), "{msg}");
}

#[test]
fn gzip_module_is_accepted_and_hash_is_of_the_given_bytes() {
    let raw = wat(COUNTER);
    let gz = gzip(&raw);
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 0x08]);

    let from_gz = ok(&gz);
    let from_raw = ok(&raw);
    let gz_hash: [u8; 32] = Sha256::digest(&gz).into();
    let raw_hash: [u8; 32] = Sha256::digest(&raw).into();
    assert_eq!(
        from_gz.module_hash, gz_hash,
        "the hash is of the bytes as installed"
    );
    assert_eq!(from_raw.module_hash, raw_hash);
    assert_ne!(from_gz.module_hash, from_raw.module_hash);
    assert_eq!(from_gz.module_hash_hex(), hex::encode(gz_hash));
    // Apart from the hash, the same module.
    assert_eq!(from_gz.wasm, from_raw.wasm);
    assert_eq!(from_gz.exports, from_raw.exports);

    // Corrupt gzip is an error of its own.
    let mut broken = gz.clone();
    broken.truncate(gz.len() / 2);
    let e = err(&broken);
    assert!(matches!(e, ModuleError::Gzip(_)), "{e:?}");
}

#[test]
fn module_over_100_mib_is_refused() {
    let limit = MAX_WASM_MODULE_BYTES;
    let mut big = vec![0u8; usize::try_from(limit).unwrap() + 1];
    big[..8].copy_from_slice(b"\0asm\x01\0\0\0");
    let e = err(&big);
    assert_eq!(
        e,
        ModuleError::TooLarge {
            size: limit + 1,
            limit
        }
    );
    assert_eq!(
        e.to_string(),
        "Wasm module is 104857601 bytes, over the IC's limit of 104857600 bytes (100 MiB); \
         shrink it with `ic-wasm shrink` or gzip it"
    );
    drop(big);

    // A small gzip that inflates past 100 MiB is stopped while inflating.
    let mut bomb_src = vec![0u8; usize::try_from(limit).unwrap() + 4096];
    bomb_src[..8].copy_from_slice(b"\0asm\x01\0\0\0");
    let bomb = gzip(&bomb_src);
    drop(bomb_src);
    assert!(
        bomb.len() < 1024 * 1024,
        "the bomb itself is small: {}",
        bomb.len()
    );
    let e = err(&bomb);
    assert_eq!(e, ModuleError::DecompressedTooLarge { limit });
}

#[test]
fn code_section_over_10_mib_is_refused() {
    use wasm_encoder::{CodeSection, FunctionSection, Module, TypeSection};
    // `size` bytes of function bodies, in two functions (wasmparser caps one body at ~7.3 MiB).
    let build = |size: usize| {
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut funcs = FunctionSection::new();
        let mut code = CodeSection::new();
        for part in [size / 2, size - size / 2] {
            funcs.function(0);
            let mut body = vec![0u8]; // no locals
            body.resize(part - 1, 0x01); // nop
            body.push(0x0b); // end
            code.raw(&body);
        }
        let mut m = Module::new();
        m.section(&types).section(&funcs).section(&code);
        m.finish()
    };
    let limit = usize::try_from(MAX_CODE_SECTION_BYTES).unwrap();
    // The section is the bodies plus the count and the size prefixes: over the limit.
    let e = err(&build(limit));
    assert!(
        matches!(e, ModuleError::CodeSectionTooLarge { limit: l, .. } if l == MAX_CODE_SECTION_BYTES),
        "{e:?}"
    );
    assert!(e.to_string().contains("10 MiB"), "{e}");
    // Just under the limit passes.
    ok(&build(limit - 16));
    let e = err(&build(limit + 1024 * 1024));
    assert!(
        matches!(e, ModuleError::CodeSectionTooLarge { size, .. } if size > MAX_CODE_SECTION_BYTES + 1024 * 1024)
    );
}

// ---------------------------------------------------------------------------------------------
// validation and structure

#[test]
fn invalid_wasm_names_the_cause_and_offset() {
    let e = err(&wat(r#"(module (func (result i32) (i64.const 1)))"#));
    let ModuleError::Invalid(msg) = &e else {
        panic!("{e:?}")
    };
    assert!(msg.contains("type mismatch"), "{msg}");
    assert!(msg.contains("offset 0x"), "{msg}");
    assert!(e.to_string().starts_with("invalid Wasm module: "), "{e}");

    // Threads are not for canisters.
    let e = err(&wat(r#"(module (memory 1 1 shared))"#));
    assert!(matches!(e, ModuleError::Invalid(_)), "{e:?}");
    // Tail calls neither.
    let e = err(&wat(r#"(module (func $f (return_call $f)))"#));
    assert!(matches!(e, ModuleError::Invalid(_)), "{e:?}");
}

#[test]
fn ic_wasm_features_are_accepted() {
    // SIMD, bulk memory, reference types, multi-value, sign extension, saturating conversions.
    ok(&wat(r#"
      (module
        (memory 1)
        (table 2 funcref)
        (global $v (mut v128) (v128.const i32x4 1 2 3 4))
        (func $two (result i32 i32) (i32.const 1) (i32.const 2))
        (func
          (drop (i32x4.extract_lane 0 (i32x4.add (global.get $v) (global.get $v))))
          (memory.fill (i32.const 0) (i32.const 0) (i32.const 8))
          (memory.copy (i32.const 0) (i32.const 8) (i32.const 8))
          (drop (i32.extend8_s (i32.const 255)))
          (drop (i32.trunc_sat_f32_s (f32.const 1e30)))
          (drop (ref.is_null (table.get (i32.const 0))))
          (call $two) (drop) (drop))
      )"#));
}

#[test]
fn two_memories_refused() {
    let e = err(&wat(r#"(module (memory 1) (memory 1))"#));
    assert_eq!(e, ModuleError::TooManyMemories { count: 2 });
    assert!(e.to_string().contains("at most one memory"), "{e}");

    let e = err(&wat(
        r#"(module (import "ic0" "mem" (memory 1)) (memory 1))"#,
    ));
    assert_eq!(e, ModuleError::TooManyMemories { count: 2 });
}

#[test]
fn memory64_module_is_detected() {
    let p = ok(&wat(r#"(module (memory i64 1) (table i64 1 funcref))"#));
    assert!(p.has_memory && p.is_memory64);

    let p = ok(&wat(r#"(module (memory 1))"#));
    assert!(p.has_memory && !p.is_memory64);

    let p = ok(&wat(r#"(module (func))"#));
    assert!(!p.has_memory && !p.is_memory64);
    assert!(!exports_of(&p.wasm)
        .iter()
        .any(|(n, _, _)| n == MEMORY_EXPORT));
}

#[test]
fn imports_must_be_ic0_functions() {
    let p = ok(&wat(COUNTER));
    assert_eq!(
        p.imports,
        vec![
            ("ic0".to_string(), "msg_reply".to_string()),
            ("ic0".to_string(), "debug_print".to_string())
        ]
    );

    let e = err(&wat(r#"(module (import "env" "f" (func)))"#));
    assert_eq!(
        e,
        ModuleError::ForeignImport {
            module: "env".into(),
            name: "f".into()
        }
    );
    assert!(e.to_string().contains("only from `ic0`"), "{e}");

    for (text, kind) in [
        (r#"(module (import "ic0" "m" (memory 1)))"#, "memory"),
        (r#"(module (import "ic0" "t" (table 1 funcref)))"#, "table"),
        (r#"(module (import "ic0" "g" (global i32)))"#, "global"),
        (r#"(module (import "env" "memory" (memory 1)))"#, "memory"),
    ] {
        let e = err(&wat(text));
        assert!(
            matches!(&e, ModuleError::NonFunctionImport { kind: k, .. } if *k == kind),
            "{text}: {e:?}"
        );
    }
}

#[test]
fn exports_are_recorded() {
    let p = ok(&wat(COUNTER));
    let x = &p.exports;
    assert_eq!(x.updates.iter().collect::<Vec<_>>(), ["inc"]);
    assert_eq!(x.queries.iter().collect::<Vec<_>>(), ["get"]);
    assert_eq!(x.composite_queries.iter().collect::<Vec<_>>(), ["cq"]);
    assert!(x.init);
    assert!(!x.pre_upgrade && !x.post_upgrade && !x.heartbeat && !x.global_timer);
    assert!(!x.inspect_message && !x.on_low_wasm_memory);

    let p = ok(&wat(r#"
      (module (func $f)
        (export "canister_pre_upgrade" (func $f))
        (export "canister_post_upgrade" (func $f))
        (export "canister_heartbeat" (func $f))
        (export "canister_global_timer" (func $f))
        (export "canister_inspect_message" (func $f))
        (export "canister_on_low_wasm_memory" (func $f))
        (export "canister_update " (func $f)))"#));
    let x = &p.exports;
    assert!(x.pre_upgrade && x.post_upgrade && x.heartbeat && x.global_timer);
    assert!(x.inspect_message && x.on_low_wasm_memory && !x.init);
    assert!(
        x.updates.contains(""),
        "an empty method name is allowed, as on the IC"
    );
    assert_eq!(p.data_segments_bytes, 0);
    assert_eq!(
        ok(&wat(COUNTER)).data_segments_bytes,
        5,
        "only active segments count"
    );
}

#[test]
fn invalid_canister_export_signature_refused() {
    for (export, ty, found) in [
        ("canister_update f", "(param i32)", "(i32) -> ()"),
        ("canister_query f", "(result i32)", "() -> (i32)"),
        (
            "canister_composite_query f",
            "(param i64) (result i64)",
            "(i64) -> (i64)",
        ),
        ("canister_init", "(param i32)", "(i32) -> ()"),
        ("canister_global_timer", "(result i64)", "() -> (i64)"),
        ("canister_on_low_wasm_memory", "(param f64)", "(f64) -> ()"),
    ] {
        let text = format!(r#"(module (func $f {ty} unreachable) (export "{export}" (func $f)))"#);
        let e = err(&wat(&text));
        assert_eq!(
            e,
            ModuleError::InvalidExportSignature {
                export: export.into(),
                found: found.into()
            },
            "{text}"
        );
        assert!(e.to_string().contains("() -> ()"), "{e}");
    }
    // An imported function is checked through its import type.
    let e = err(&wat(
        r#"(module (import "ic0" "msg_arg_data_size" (func $f (result i32)))
                                (export "canister_query size" (func $f)))"#,
    ));
    assert!(
        matches!(e, ModuleError::InvalidExportSignature { .. }),
        "{e:?}"
    );
}

#[test]
fn unknown_and_duplicate_canister_exports_refused() {
    // The spec: "It may not export other methods the names of which start with the prefix
    // `canister_` besides the methods allowed above."
    for name in [
        "canister_start",
        "canister_foo",
        "canister_update",
        "canister_query_x",
        "canister_init2",
    ] {
        let e = err(&wat(&format!(
            r#"(module (func $f) (export "{name}" (func $f)))"#
        )));
        assert_eq!(
            e,
            ModuleError::UnknownCanisterExport {
                export: name.into()
            }
        );
    }
    // Only functions are checked, as on the IC.
    ok(&wat(
        r#"(module (global i32 (i32.const 0)) (export "canister_thing" (global 0)))"#,
    ));

    let e = err(&wat(r#"(module (func $f)
        (export "canister_update m" (func $f)) (export "canister_query m" (func $f)))"#));
    assert_eq!(
        e,
        ModuleError::DuplicateMethod {
            method: "m".into(),
            first: "canister_update",
            second: "canister_query"
        }
    );

    for name in [
        "__drydock_memory",
        "__drydock_start",
        "__drydock_global_0",
        "canister counter_instructions",
    ] {
        let e = err(&wat(&format!(
            r#"(module (func $f) (export "{name}" (func $f)))"#
        )));
        assert_eq!(
            e,
            ModuleError::ReservedExport {
                export: name.into()
            }
        );
    }
}

#[test]
fn ic_may_reject_limits_are_enforced() {
    use wasm_encoder::{
        CodeSection, ConstExpr, ExportKind, ExportSection, Function, FunctionSection,
        GlobalSection, GlobalType, Module, TypeSection, ValType,
    };
    let module = |functions: u32, globals: u32, methods: &[String]| {
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut funcs = FunctionSection::new();
        let mut code = CodeSection::new();
        for _ in 0..functions {
            funcs.function(0);
            let mut f = Function::new([]);
            f.instructions().end();
            code.function(&f);
        }
        let mut gs = GlobalSection::new();
        for _ in 0..globals {
            gs.global(
                GlobalType {
                    val_type: ValType::I32,
                    mutable: false,
                    shared: false,
                },
                &ConstExpr::i32_const(0),
            );
        }
        let mut exports = ExportSection::new();
        for m in methods {
            exports.export(m, ExportKind::Func, 0);
        }
        let mut m = Module::new();
        m.section(&types)
            .section(&funcs)
            .section(&gs)
            .section(&exports)
            .section(&code);
        m.finish()
    };
    ok(&module(50_000, 1_000, &[]));
    assert_eq!(
        err(&module(50_001, 0, &[])),
        ModuleError::TooManyFunctions {
            count: 50_001,
            limit: 50_000
        }
    );
    assert_eq!(
        err(&module(1, 1_001, &[])),
        ModuleError::TooManyGlobals {
            count: 1_001,
            limit: 1_000
        }
    );

    let many: Vec<String> = (0..1_001)
        .map(|i| format!("canister_update m{i}"))
        .collect();
    ok(&module(1, 0, &many[..1_000]));
    assert_eq!(
        err(&module(1, 0, &many)),
        ModuleError::TooManyMethods {
            count: 1_001,
            limit: 1_000
        }
    );

    let long: Vec<String> = (0..3)
        .map(|i| format!("canister_query {i}{}", "x".repeat(6_999)))
        .collect();
    assert_eq!(
        err(&module(1, 0, &long)),
        ModuleError::MethodNamesTooLong {
            total: 21_000,
            limit: 20_000
        }
    );
}

// ---------------------------------------------------------------------------------------------
// custom sections

#[test]
fn eop_section_detected() {
    let base = wat(r#"(module (memory i64 1))"#);
    let p = ok(&with_custom(
        base.clone(),
        "icp:private enhanced-orthogonal-persistence",
        b"",
    ));
    assert!(p.is_eop);
    assert_eq!(
        p.metadata("enhanced-orthogonal-persistence"),
        Some((false, &b""[..]))
    );
    // The IC looks the metadata name up whatever its visibility.
    assert!(
        ok(&with_custom(
            base.clone(),
            "icp:public enhanced-orthogonal-persistence",
            b""
        ))
        .is_eop
    );
    // Without `icp:` it is not metadata, and the IC does not see it.
    assert!(
        !ok(&with_custom(
            base.clone(),
            "enhanced-orthogonal-persistence",
            b""
        ))
        .is_eop
    );
    assert!(!ok(&base).is_eop);
}

#[test]
fn custom_sections_limits() {
    let base = wat(r#"(module (func))"#);

    // Recorded, and readable through `metadata`.
    let mut m = with_custom(base.clone(), "icp:public candid:service", b"service : {}");
    m = with_custom(m, "icp:private motoko:stable-types", b"actor {}");
    m = with_custom(m, "name", b"\x00");
    m = with_custom(m, "producers", b"\x00");
    let p = ok(&m);
    assert_eq!(
        p.custom_sections.len(),
        2,
        "only icp: sections are recorded"
    );
    assert_eq!(
        p.metadata("candid:service"),
        Some((true, &b"service : {}"[..]))
    );
    assert_eq!(
        p.metadata("motoko:stable-types"),
        Some((false, &b"actor {}"[..]))
    );
    assert_eq!(p.metadata("name"), None);
    assert_eq!(
        p.custom_sections["icp:public candid:service"],
        b"service : {}"
    );

    // 16 sections pass, the 17th is refused.
    let mut m = base.clone();
    for i in 0..16 {
        m = with_custom(m, &format!("icp:public s{i}"), b"x");
    }
    ok(&m);
    let e = err(&with_custom(m, "icp:private s16", b"x"));
    assert_eq!(
        e,
        ModuleError::TooManyCustomSections {
            count: 17,
            limit: 16
        }
    );
    // Other custom sections do not count.
    let mut m = base.clone();
    for i in 0..40 {
        m = with_custom(m, &format!("other{i}"), b"x");
    }
    ok(&with_custom(m, "debug", &vec![7u8; 2 * 1024 * 1024]));

    // 1 MiB in all: names without the prefix plus contents.
    let limit = usize::try_from(MAX_ICP_CUSTOM_SECTIONS_BYTES).unwrap();
    let m = with_custom(base.clone(), "icp:public a", &vec![0u8; limit / 2]);
    ok(&with_custom(
        m.clone(),
        "icp:private bb",
        &vec![0u8; limit / 2 - 3],
    ));
    let e = err(&with_custom(m, "icp:private bb", &vec![0u8; limit / 2 - 2]));
    assert_eq!(
        e,
        ModuleError::CustomSectionsTooLarge {
            size: limit as u64 + 1,
            limit: limit as u64
        }
    );

    // `icp:` names need a visibility and the space after it.
    for name in [
        "icp:protected x",
        "icp:public",
        "icp:private",
        "icp:publicx",
        "icp:",
    ] {
        let e = err(&with_custom(base.clone(), name, b""));
        assert_eq!(
            e,
            ModuleError::InvalidCustomSectionName { name: name.into() }
        );
    }
    ok(&with_custom(
        base.clone(),
        "icp:public ",
        b"empty name is allowed",
    ));

    // One name once: not both public and private, and not twice.
    let m = with_custom(base.clone(), "icp:public x", b"1");
    for dup in ["icp:private x", "icp:public x"] {
        let e = err(&with_custom(m.clone(), dup, b"2"));
        assert_eq!(e, ModuleError::DuplicateCustomSection { name: "x".into() });
    }
}

// ---------------------------------------------------------------------------------------------
// instrumentation

#[test]
fn mutable_globals_are_exported() {
    let raw = wat(COUNTER);
    let p = ok(&raw);
    assert_eq!(p.mutable_globals, vec![0, 2]);
    assert!(!p.has_start);

    let before = exports_of(&raw);
    let after = exports_of(&p.wasm);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "existing exports are kept, in order"
    );
    assert_eq!(
        &after[before.len()..],
        &[
            (MEMORY_EXPORT.to_string(), ExternalKind::Memory, 0),
            (global_export_name(0), ExternalKind::Global, 0),
            (global_export_name(2), ExternalKind::Global, 2),
        ]
    );
    assert_eq!(global_export_name(2), "__drydock_global_2");
    assert_eq!(
        untouched_sections(&raw),
        untouched_sections(&p.wasm),
        "other sections are byte-identical"
    );

    // The embedder can read and write them.
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, &p.wasm).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let mut linker = wasmtime::Linker::new(&engine);
    linker.func_wrap("ic0", "msg_reply", || {}).unwrap();
    linker
        .func_wrap("ic0", "debug_print", |_: i32, _: i32| {})
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let count = instance
        .get_global(&mut store, "__drydock_global_0")
        .unwrap();
    let inc = instance
        .get_typed_func::<(), ()>(&mut store, "canister_update inc")
        .unwrap();
    inc.call(&mut store, ()).unwrap();
    inc.call(&mut store, ()).unwrap();
    assert_eq!(count.get(&mut store).i64(), Some(2));
    count.set(&mut store, wasmtime::Val::I64(40)).unwrap();
    inc.call(&mut store, ()).unwrap();
    assert_eq!(count.get(&mut store).i64(), Some(41));
    assert!(instance.get_memory(&mut store, MEMORY_EXPORT).is_some());

    // A module without an export section gets one, in the right place.
    let raw = wat(
        r#"(module (memory 1) (global (mut i32) (i32.const 0)) (func) (data (i32.const 0) "x"))"#,
    );
    let p = ok(&raw);
    assert_eq!(exports_of(&p.wasm).len(), 2);
    assert_eq!(untouched_sections(&raw), untouched_sections(&p.wasm));

    // Nothing to add: the module is unchanged.
    let raw = wat(r#"(module (func (export "f")) (global i32 (i32.const 1)))"#);
    assert_eq!(ok(&raw).wasm, raw);

    // Mutable reference-typed globals cannot be saved across messages.
    let e = err(&wat(r#"(module (global (mut funcref) (ref.null func)))"#));
    assert!(
        matches!(e, ModuleError::UnsupportedGlobal { index: 0, .. }),
        "{e:?}"
    );
}

#[test]
fn start_function_is_exported_not_run() {
    let raw = wat(r#"
      (module
        (global $g (mut i32) (i32.const 0))
        (func $other (global.set $g (i32.const 7)))
        (func $start (global.set $g (i32.add (global.get $g) (i32.const 42))))
        (start $start)
        (export "canister_query get" (func $other)))"#);
    assert!(has_start_section(&raw));
    let p = ok(&raw);
    assert!(p.has_start);
    assert!(!has_start_section(&p.wasm), "the start section is removed");
    assert!(exports_of(&p.wasm).contains(&(START_EXPORT.to_string(), ExternalKind::Func, 1)));
    assert_eq!(untouched_sections(&raw), untouched_sections(&p.wasm));

    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, &p.wasm).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let g = instance
        .get_global(&mut store, "__drydock_global_0")
        .unwrap();
    assert_eq!(
        g.get(&mut store).i32(),
        Some(0),
        "instantiating does not run the start function"
    );
    let start = instance
        .get_typed_func::<(), ()>(&mut store, START_EXPORT)
        .unwrap();
    start.call(&mut store, ()).unwrap();
    assert_eq!(
        g.get(&mut store).i32(),
        Some(42),
        "the embedder runs it when it chooses"
    );

    // The start function may be an import.
    let p = ok(&wat(
        r#"(module (import "ic0" "accept_message" (func $a)) (start $a))"#,
    ));
    assert!(exports_of(&p.wasm).contains(&(START_EXPORT.to_string(), ExternalKind::Func, 0)));
}

// ---------------------------------------------------------------------------------------------
// robustness

fn mutation() -> impl Strategy<Value = (usize, u8, u8)> {
    (any::<usize>(), any::<u8>(), 0u8..4)
}

fn mutate(mut wasm: Vec<u8>, muts: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, byte, how) in muts {
        if wasm.is_empty() {
            wasm.push(byte);
            continue;
        }
        let i = at % wasm.len();
        match how {
            0 => wasm[i] = byte,
            1 => wasm[i] ^= 1 << (byte % 8),
            2 => wasm.insert(i, byte),
            _ => {
                wasm.remove(i);
            }
        }
    }
    wasm
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                prefix in 0u8..3) {
        let mut input = match prefix {
            0 => Vec::new(),
            1 => b"\0asm\x01\0\0\0".to_vec(),
            _ => vec![0x1f, 0x8b, 0x08],
        };
        input.extend_from_slice(&bytes);
        if let Ok(p) = prepare(&input) {
            assert_valid(&p.wasm);
        }
    }

    #[test]
    fn mutated_modules_never_panic(muts in proptest::collection::vec(mutation(), 1..6),
                                   which in 0usize..3) {
        let base = match which {
            0 => wat(COUNTER),
            1 => with_custom(wat(r#"(module (memory i64 1) (global (mut i64) (i64.const 3))
                    (func $s) (start $s) (export "canister_update x" (func $s)))"#),
                    "icp:public candid:service", b"service : {}"),
            _ => gzip(&wat(COUNTER)),
        };
        let input = mutate(base, &muts);
        if let Ok(p) = prepare(&input) {
            assert_valid(&p.wasm);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// real canisters

#[test]
#[allow(clippy::print_stderr)] // a one-line summary per real module, shown with --nocapture
fn real_canisters_prepare_cleanly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-canisters");
    let dir = if dir.is_dir() {
        dir
    } else {
        PathBuf::from("/work/main/target/test-canisters")
    };
    let mut wasms: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.to_string_lossy();
                    name.ends_with(".wasm") || name.ends_with(".wasm.gz")
                })
                .collect()
        })
        .unwrap_or_default();
    wasms.sort();
    assert!(
        !wasms.is_empty(),
        "no real canister modules in {}: run scripts/build-test-canisters.sh first",
        dir.display()
    );
    for path in &wasms {
        let bytes = std::fs::read(path).unwrap();
        let p = prepare(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_valid(&p.wasm);
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(p.module_hash, hash);
        assert!(p.has_memory, "{}", path.display());
        assert!(p.imports.iter().all(|(m, _)| m == "ic0"));
        assert!(
            !p.exports.updates.is_empty() || !p.exports.queries.is_empty(),
            "{}: exports no methods",
            path.display()
        );
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("counter_eop") {
            assert!(
                p.is_eop && p.is_memory64,
                "{name}: moc's EOP output is memory64 and marked"
            );
        }
        if name.starts_with("counter_classic") {
            assert!(
                !p.is_eop && !p.is_memory64,
                "{name}: classic persistence is wasm32"
            );
        }
        // Its candid interface is there whenever the build put one next to it.
        let did = path.with_extension("did");
        if did.exists() && name.starts_with("counter") {
            assert!(
                p.metadata("candid:service").is_some(),
                "{name}: no candid:service"
            );
        }
        // Every mutable global is exported under its index, and the memory too.
        let exports = exports_of(&p.wasm);
        for g in &p.mutable_globals {
            assert!(exports.iter().any(|(n, k, i)| *n == global_export_name(*g)
                && *k == ExternalKind::Global
                && i == g));
        }
        assert!(exports.iter().any(|(n, _, _)| n == MEMORY_EXPORT));
        // And wasmtime takes it.
        let engine = wasmtime::Engine::new(wasmtime::Config::new().wasm_memory64(true)).unwrap();
        wasmtime::Module::new(&engine, &p.wasm)
            .unwrap_or_else(|e| panic!("{name}: wasmtime: {e:#}"));
        // Gzipped, it is the same module.
        let gz = prepare(&gzip(&bytes)).unwrap();
        assert_eq!(gz.wasm, p.wasm);
        eprintln!(
            "{name}: {} imports, {} updates, {} queries, {} mutable globals, memory64={}, eop={}, start={}, metadata={:?}",
            p.imports.len(),
            p.exports.updates.len(),
            p.exports.queries.len(),
            p.mutable_globals.len(),
            p.is_memory64,
            p.is_eop,
            p.has_start,
            p.custom_sections.keys().collect::<Vec<_>>()
        );
    }
}
