//! Reading and writing `icp:` metadata sections: round trips on a WAT module and on a real
//! Rust canister, gzip input, byte preservation, and the IC's limits.

use std::io::Write;
use std::path::PathBuf;

use drydock_compat::metadata::{self, MetadataSection, Visibility};
use drydock_compat::CompatError;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A test canister from target/test-canisters; these must exist.
fn test_canister(name: &str) -> Vec<u8> {
    let path = repo_root().join("target/test-canisters").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the test canisters first with scripts/build-test-canisters.sh",
            path.display()
        )
    })
}

fn wat_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
             (import "ic0" "msg_reply" (func $reply))
             (memory (export "memory") 1)
             (data (i32.const 16) "hello")
             (func (export "canister_query hi") (call $reply))
             (@custom "name-ish" "not metadata")
             (@custom "icp:public candid:service" "service : { hi : () -> () query }")
             (@custom "icp:private secret" "s3cr3t"))"#,
    )
    .expect("WAT parses")
}

fn validate(wasm: &[u8]) {
    wasmparser::Validator::new()
        .validate_all(wasm)
        .expect("the written module validates");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn section(name: &str, visibility: Visibility, content: &[u8]) -> MetadataSection {
    MetadataSection {
        name: name.to_string(),
        visibility,
        content: content.to_vec(),
    }
}

/// The module's bytes outside the sections named `names`: what write/remove must preserve.
fn other_sections(wasm: &[u8], skip: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut prev = 8;
    for p in wasmparser::Parser::new(0).parse_all(wasm) {
        let p = p.expect("parses");
        let (end, name) = match &p {
            wasmparser::Payload::CustomSection(c) => (c.range().end, Some(c.name())),
            other => match other.as_section() {
                Some((_, r)) => (r.end, None),
                None => continue,
            },
        };
        if !name.is_some_and(|n| skip.contains(&n)) {
            out.push(wasm[prev..end].to_vec());
        }
        prev = end;
    }
    out
}

fn round_trip(wasm: &[u8]) {
    let before = metadata::read(wasm).expect("reads");

    // Add a new public section: appended, everything else untouched.
    let added = metadata::write(wasm, "drydock:test", Visibility::Public, b"v1").expect("write");
    validate(&added);
    assert!(added.starts_with(wasm), "an added section is appended");
    let mut expected = before.clone();
    expected.push(section("drydock:test", Visibility::Public, b"v1"));
    assert_eq!(metadata::read(&added).expect("reads"), expected);

    // Replace it, switching visibility: same position, new content.
    let replaced = metadata::write(&added, "drydock:test", Visibility::Private, b"version two")
        .expect("write");
    validate(&replaced);
    let mut expected = before.clone();
    expected.push(section("drydock:test", Visibility::Private, b"version two"));
    assert_eq!(metadata::read(&replaced).expect("reads"), expected);
    assert_eq!(
        other_sections(&replaced, &["icp:private drydock:test"]),
        other_sections(wasm, &[])
    );

    // Remove it: the original module, byte for byte.
    let removed = metadata::remove(&replaced, "drydock:test").expect("remove");
    assert_eq!(removed, wasm);
    assert_eq!(metadata::read(&removed).expect("reads"), before);

    // Removing a name the module does not have changes nothing.
    assert_eq!(
        metadata::remove(wasm, "no-such-name").expect("remove"),
        wasm
    );
}

#[test]
fn reads_public_and_private_sections() {
    let wasm = wat_module();
    assert_eq!(
        metadata::read(&wasm).expect("reads"),
        vec![
            section(
                "candid:service",
                Visibility::Public,
                b"service : { hi : () -> () query }"
            ),
            section("secret", Visibility::Private, b"s3cr3t"),
        ]
    );
    let got = metadata::get(&wasm, "secret")
        .expect("reads")
        .expect("present");
    assert_eq!(got.section_name(), "icp:private secret");
}

#[test]
fn round_trip_on_wat_module() {
    round_trip(&wat_module());
}

#[test]
fn replaces_in_place_keeping_section_order() {
    let wasm = wat_module();
    let out = metadata::write(
        &wasm,
        "candid:service",
        Visibility::Private,
        b"service : {}",
    )
    .expect("write");
    validate(&out);
    let names: Vec<String> = metadata::read(&out)
        .expect("reads")
        .iter()
        .map(MetadataSection::section_name)
        .collect();
    assert_eq!(names, ["icp:private candid:service", "icp:private secret"]);
    assert_eq!(
        other_sections(&out, &["icp:private candid:service"]),
        other_sections(&wasm, &["icp:public candid:service"])
    );
}

#[test]
fn round_trip_on_real_canister() {
    let wasm = test_canister("kv.wasm");
    let before = metadata::read(&wasm).expect("reads kv.wasm");
    round_trip(&wasm);
    // And replacing a section the canister already carries, if it has one.
    if let Some(first) = before.first() {
        let out =
            metadata::write(&wasm, &first.name, first.visibility, b"replaced").expect("write");
        validate(&out);
        let after = metadata::read(&out).expect("reads");
        assert_eq!(after.len(), before.len());
        assert_eq!(after[0].content, b"replaced");
        assert_eq!(after[1..], before[1..]);
    }
}

#[test]
fn gzipped_input_reads_and_writes_raw() {
    let wasm = wat_module();
    let gz = gzip(&wasm);
    assert_eq!(
        metadata::read(&gz).expect("reads gzip"),
        metadata::read(&wasm).expect("reads")
    );
    let out = metadata::write(&gz, "x", Visibility::Public, b"y").expect("write");
    assert!(out.starts_with(b"\0asm"), "the output is raw Wasm");
    assert_eq!(
        out,
        metadata::write(&wasm, "x", Visibility::Public, b"y").expect("write")
    );
    assert_eq!(metadata::remove(&gz, "x").expect("remove"), wasm);
}

#[test]
fn malformed_input_is_an_error() {
    for bad in [
        &b""[..],
        b"not wasm at all",
        b"\0asm\x01\0\0\0\x01\xff",
        &[0x1f, 0x8b, 0x08, 0, 0, 0],
    ] {
        assert!(
            matches!(metadata::read(bad), Err(CompatError::Wasm(_))),
            "{bad:?}"
        );
        assert!(matches!(
            metadata::write(bad, "x", Visibility::Public, b""),
            Err(CompatError::Wasm(_))
        ));
    }
    // A truncated module.
    let wasm = wat_module();
    assert!(matches!(
        metadata::read(&wasm[..wasm.len() - 3]),
        Err(CompatError::Wasm(_))
    ));
}

#[test]
fn refuses_bad_names() {
    let wasm = wat_module();
    for name in ["", "icp:public x"] {
        assert!(matches!(
            metadata::write(&wasm, name, Visibility::Public, b""),
            Err(CompatError::Metadata(_))
        ));
    }
}

#[test]
fn refuses_more_than_one_mib() {
    let wasm = wat_module();
    let big = vec![b'a'; 1024 * 1024];
    let err = metadata::write(&wasm, "big", Visibility::Public, &big).expect_err("too big");
    assert!(matches!(err, CompatError::Metadata(_)), "{err}");
    // Just under the limit alone, but over it together with the existing sections.
    let almost = vec![b'a'; 1024 * 1024 - 3];
    let err = metadata::write(&wasm, "big", Visibility::Public, &almost).expect_err("too big");
    assert!(err.to_string().contains("1 MiB"), "{err}");
    // Replacing an existing section counts only the new content.
    let near = vec![b'a'; 1024 * 1024 - 100];
    let out = metadata::write(
        &wasm,
        "candid:service",
        Visibility::Public,
        &near[..near.len() - 20],
    )
    .expect("fits");
    validate(&out);
}

#[test]
fn refuses_a_seventeenth_section() {
    let mut wasm = wat_module(); // 2 icp: sections
    for i in 0..14 {
        wasm = metadata::write(&wasm, &format!("n{i}"), Visibility::Public, b"x").expect("fits");
    }
    assert_eq!(metadata::read(&wasm).expect("reads").len(), 16);
    // Replacing one of the 16 is fine; a 17th is not.
    metadata::write(&wasm, "n3", Visibility::Private, b"y").expect("replace fits");
    let err = metadata::write(&wasm, "n14", Visibility::Public, b"x").expect_err("17th");
    assert!(matches!(err, CompatError::Metadata(_)), "{err}");
    assert!(err.to_string().contains("16"), "{err}");
}
