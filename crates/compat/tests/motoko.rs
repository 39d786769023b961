//! Differential test of our Motoko stable-signature checker against moc.js 4.10.
//!
//! - `corpus_agrees_with_moc`: every pair in `tests/motoko_corpus/NNN/` (generated and
//!   compiled by `generate.js`) gets the same verdict and the same error codes from
//!   `check_stable` as moc's `stableCompatible` recorded in `moc.json`.
//! - `corpus_verdicts_are_moc_s`: re-runs moc.js live (`oracle.js`) and checks that `moc.json`
//!   is still what moc says. Fails, never skips, when node or motoko/node_modules is missing.
//! - targeted tests of the rules and of the three signature versions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_compat::motoko::check_stable;
use drydock_compat::{Area, CompatError, Finding, Severity};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/motoko_corpus")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Pair {
    name: String,
    old: String,
    new: String,
    compatible: bool,
    codes: BTreeSet<String>,
}

fn corpus() -> Vec<Pair> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("tests/motoko_corpus exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 3 && n.chars().all(|c| c.is_ascii_digit()))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let dir = corpus_dir().join(&name);
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{name}/{f}: {e}"))
            };
            let json: serde_json::Value =
                serde_json::from_str(&read("moc.json")).expect("moc.json is JSON");
            Pair {
                old: read("old.most"),
                new: read("new.most"),
                compatible: json["compatible"].as_bool().expect("compatible"),
                codes: json["codes"]
                    .as_array()
                    .expect("codes")
                    .iter()
                    .map(|c| c.as_str().expect("code").to_string())
                    .collect(),
                name,
            }
        })
        .collect()
}

fn error_codes(findings: &[Finding]) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code.clone())
        .collect()
}

#[test]
fn corpus_agrees_with_moc() {
    let pairs = corpus();
    assert!(
        pairs.len() >= 300,
        "the corpus has {} pairs, fewer than 300: regenerate it with generate.js",
        pairs.len()
    );
    let mut disagreements = Vec::new();
    let mut per_code: BTreeMap<String, usize> = BTreeMap::new();
    let mut incompatible = 0;
    for p in &pairs {
        if !p.compatible {
            incompatible += 1;
        }
        for c in &p.codes {
            *per_code.entry(c.clone()).or_default() += 1;
        }
        match check_stable(&p.old, &p.new) {
            Err(e) => disagreements.push(format!("{}: we fail to parse: {e}", p.name)),
            Ok(findings) => {
                let codes = error_codes(&findings);
                let compatible = codes.is_empty();
                if compatible != p.compatible || codes != p.codes {
                    disagreements.push(format!(
                        "{}: moc says compatible={} {:?}, we say compatible={} {:?}:\n    {}",
                        p.name,
                        p.compatible,
                        p.codes,
                        compatible,
                        codes,
                        findings
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>()
                            .join("\n    ")
                    ));
                }
                for f in &findings {
                    assert_eq!(f.area, Area::Motoko);
                    assert!(f.hint.is_some(), "{}: finding without hint: {f}", p.name);
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree with moc ({incompatible} incompatible, codes {per_code:?}):\n{}",
        disagreements.len(),
        pairs.len(),
        disagreements.join("\n")
    );
    // The corpus must exercise both outcomes and each main code.
    assert!(incompatible * 100 >= pairs.len() * 35);
    for code in ["M0169", "M0170", "M0216"] {
        assert!(
            per_code.get(code).copied().unwrap_or(0) >= 20,
            "{code} appears fewer than 20 times in the corpus"
        );
    }
}

#[test]
fn corpus_verdicts_are_moc_s() {
    const HELP: &str = "run scripts/build-test-canisters.sh, which runs npm ci in motoko/";
    let modules = workspace_root().join("motoko/node_modules/motoko");
    assert!(
        modules.is_dir(),
        "moc.js is not installed ({} is missing): {HELP}",
        modules.display()
    );
    let out = Command::new("node")
        .arg(corpus_dir().join("oracle.js"))
        .arg(corpus_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}): install Node.js, then {HELP}"));
    assert!(
        out.status.success(),
        "oracle.js failed ({}): {}\n{HELP}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let live: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("oracle.js prints JSON");
    let pairs = corpus();
    assert_eq!(live.len(), pairs.len(), "oracle.js saw a different corpus");
    let mut stale = Vec::new();
    for p in &pairs {
        let v = &live[&p.name];
        let codes: BTreeSet<String> = v["codes"]
            .as_array()
            .expect("codes")
            .iter()
            .map(|c| c.as_str().expect("code").to_string())
            .collect();
        if v["compatible"].as_bool() != Some(p.compatible) || codes != p.codes {
            stale.push(format!(
                "{}: moc.json says {} {:?}, moc.js now says {} {:?}",
                p.name, p.compatible, p.codes, v["compatible"], codes
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "moc.json is stale (regenerate with generate.js):\n{}",
        stale.join("\n")
    );
}

// ---- targeted tests -----------------------------------------------------------------------

fn single(vars: &str) -> String {
    format!("// Version: 1.0.0\nactor {{\n{vars}\n}};\n")
}

fn codes(old: &str, new: &str) -> Vec<String> {
    let f = check_stable(old, new).expect("both parse");
    let mut c: Vec<String> = f
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code.clone())
        .collect();
    c.sort();
    c
}

#[test]
fn int_to_nat_is_refused() {
    let f = check_stable(
        &single("  stable var count : Int"),
        &single("  stable var count : Nat"),
    )
    .unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "M0170");
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].area, Area::Motoko);
    assert!(f[0].path.contains("`count`"), "{}", f[0].path);
}

#[test]
fn nat_to_int_passes() {
    assert!(codes(
        &single("  stable var count : Nat"),
        &single("  stable var count : Int")
    )
    .is_empty());
}

#[test]
fn dropped_variable_is_refused() {
    let f = check_stable(
        &single("  stable var a : Nat;\n  stable var b : Text"),
        &single("  stable var a : Nat"),
    )
    .unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "M0169");
    assert_eq!(f[0].path, "stable variable `b`");
    assert!(f[0].hint.as_deref().unwrap().contains("migration"));
}

#[test]
fn dropped_record_field_is_refused() {
    let f = check_stable(
        &single("  stable var map : {owner : Principal; size : Nat}"),
        &single("  stable var map : {size : Nat}"),
    )
    .unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "M0216");
    assert_eq!(f[0].path, "stable variable `map`: record field `owner`");
}

#[test]
fn new_variable_and_let_var_changes_are_fine() {
    assert!(codes(
        &single("  stable var a : Nat"),
        &single("  stable a : Nat;\n  stable var b : [var Text]")
    )
    .is_empty());
}

#[test]
fn structural_rules() {
    let ok = |o: &str, n: &str| {
        assert!(
            codes(
                &single(&format!("  stable var x : {o}")),
                &single(&format!("  stable var x : {n}"))
            )
            .is_empty(),
            "{o} -> {n} should pass"
        )
    };
    let bad = |o: &str, n: &str, code: &str| {
        assert_eq!(
            codes(
                &single(&format!("  stable var x : {o}")),
                &single(&format!("  stable var x : {n}"))
            ),
            vec![code.to_string()],
            "{o} -> {n}"
        )
    };
    ok("{#a; #b : Nat}", "{#a; #b : Int; #c}");
    bad("{#a; #b}", "{#a}", "M0170");
    ok("Null", "?Nat");
    ok("[Nat]", "[Int]");
    bad("[var Nat]", "[var Int]", "M0170");
    ok("(Nat, Text)", "(Int, Text)");
    bad("(Nat, Text)", "(Nat, Text, Bool)", "M0170");
    bad("Nat", "Any", "M0216");
    ok("None", "Nat");
    bad("Nat8", "Nat", "M0170");
    bad("{a : Nat}", "{a : Nat; b : Nat}", "M0170");
    ok("?(shared () -> async ())", "?(shared () -> async ())");
    bad(
        "shared query Nat -> async Nat",
        "shared Nat -> async Nat",
        "M0170",
    );
    ok("Blob", "Blob");
    bad("Blob", "Text", "M0170");
}

#[test]
fn recursive_and_generic_definitions() {
    let old = "// Version: 1.0.0\ntype List__1<T> = ?(T, List__1<T>);\nactor {\n  stable var l : ?(Nat, List__1<Nat>)\n};\n";
    let new = "// Version: 1.0.0\ntype L__2<T> = ?(T, L__2<T>);\nactor {\n  stable var l : ?(Int, L__2<Int>)\n};\n";
    assert!(codes(old, new).is_empty());
    assert_eq!(codes(new, old), vec!["M0170"]);
}

/// Six definitions, each an option nested 150 deep around the next: an unchanged variable of
/// that type compares as compatible although unfolding it is 900 levels deep.
fn deep_chain(last: &str) -> String {
    let mut defs = String::new();
    for i in 0..6 {
        let inner = if i == 5 {
            last.to_string()
        } else {
            format!("D{}", i + 1)
        };
        defs += &format!("type D{i} = {}{inner};\n", "?".repeat(150));
    }
    format!("// Version: 1.0.0\n{defs}actor {{\n  stable var d : D0\n}};\n")
}

#[test]
fn deep_unchanged_types_stay_compatible() {
    let sig = deep_chain("Nat");
    assert!(codes(&sig, &sig).is_empty());
    assert!(codes(&sig, &deep_chain("Int")).is_empty());
    assert_eq!(codes(&deep_chain("Int"), &sig), vec!["M0170"]);
}

#[test]
fn expansive_definitions_are_refused_as_moc_refuses_them() {
    // found by the `most` fuzz target: moc never writes this (M0156), and unfolding it never
    // repeats
    let sig = "// Version: 1.0.0\ntype List__1<T> = ?(T, List__1<?T>);\nactor {\n  stable var items : ?(Nat, List__1<Nat>)\n};\n";
    let e = check_stable(sig, sig).expect_err("refused").to_string();
    assert!(e.contains("M0156") && e.contains("line 2"), "{e}");
}

#[test]
fn migration_function_allows_the_drop() {
    let old = single("  stable var a : Nat;\n  stable var b : {x : Nat; y : Text}");
    // (with migration = func (old : {a : Nat; b : {..}}) : {b : {x : Nat}} ..)
    let v3 = "// Version: 3.0.0\nactor ({\n  in a : Nat;\n  in b : {x : Nat; y : Text}\n}, {\n  stable var b : {x : Nat}\n});\n";
    assert!(codes(&old, v3).is_empty());
    // without the migration the same change is refused
    assert_eq!(
        codes(&old, &single("  stable var b : {x : Nat}")),
        vec!["M0169", "M0216"]
    );
    // a migration that requires a variable the old version lacks
    let v3b = "// Version: 3.0.0\nactor ({\n  in ghost : Nat;\n  stable var a : Nat;\n  stable var b : {x : Nat; y : Text}\n}, {\n  stable var a : Nat;\n  stable var b : {x : Nat; y : Text}\n});\n";
    assert_eq!(codes(&old, v3b), vec!["M0263"]);
}

#[test]
fn migration_chains_version_4() {
    let a = "// Version: 4.0.0\n{\n  \"1_init\" : {} -> {x : Nat; y : Text}\n}\nactor  {\n  stable var x : Nat;\n  stable y : Text\n};\n";
    let b = "// Version: 4.0.0\n{\n  \"1_init\" : {} -> {x : Nat; y : Text};\n  \"2_change\" : (old : {x : Nat}) -> {x : Int; z : ?Nat}\n}\nactor  {\n  stable var x : Int;\n  stable y : Text;\n  stable var z : ?Nat\n};\n";
    assert!(codes(a, b).is_empty());
    assert!(codes(b, b).is_empty());
    assert_eq!(codes(b, a), vec!["M0169", "M0169", "M0169"]);
    assert_eq!(
        codes(a, &single("  stable var x : Nat;\n  stable y : Text")),
        vec!["M0255"]
    );
}

#[test]
fn parse_errors_have_positions() {
    match check_stable(
        "// Version: 1.0.0\nactor {\n  stable var x : Nat\n  stable var y : Nat\n};\n",
        &single(""),
    ) {
        Err(CompatError::Motoko {
            line,
            column,
            cause,
        }) => {
            assert_eq!((line, column), (4, 3), "{cause}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    match check_stable(&single("  stable var x : Natt"), &single("")) {
        Err(CompatError::Motoko { line, cause, .. }) => {
            assert_eq!(line, 3);
            assert!(cause.contains("Natt"), "{cause}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "",
        "actor",
        "actor {",
        "actor { stable",
        "{",
        "\"",
        "/*",
        "type",
        "type A = ",
        "actor ({},",
        "type A<T> = A<A<T>>; actor { stable x : A<Nat> }",
        "actor { stable x : (((((",
        "{ \"a\" : Nat } actor {}",
        "actor { stable x : {#} ; stable y : {} }",
        "actor { stable x : [var var] }",
    ];
    for s in samples {
        let _ = check_stable(s, s);
        let _ = check_stable(s, &single("  stable var x : Nat"));
    }
    let deep = format!("actor {{ stable x : {}Nat{} }}", "?".repeat(5000), "");
    let _ = check_stable(&deep, &deep);
    let deep = format!(
        "actor {{ stable x : {}Nat{} }}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let _ = check_stable(&deep, &deep);
}
