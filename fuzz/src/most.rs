//! Motoko stable signatures (`.most`), `drydock_compat::motoko::parse`: the text a module's
//! `motoko:stable-types` section holds, which `drydock check` and `canister upgrade` parse.
//!
//! Promises checked: any text gives `Ok` or an error with a position, never a panic; an
//! accepted plain signature (`// Version: 1.0.0`, no migration) is compatible with itself (no
//! `Error` finding when checked against itself), since an upgrade that changes nothing
//! never breaks anything. (A migration signature's pre- and post-states differ, so it is
//! not compatible with itself in general.)

use drydock_compat::motoko::types::StabSig;
use drydock_compat::motoko::{check_signatures, parse};
use drydock_compat::Severity;

/// Parses `text` and checks the promises above. Panics only if one is broken.
pub fn parse_text(text: &str) {
    let Ok(sig) = parse(text) else {
        return;
    };
    if !matches!(sig.sig, StabSig::Single(_)) {
        return;
    }
    let findings = check_signatures(&sig, &sig);
    if let Some(f) = findings.iter().find(|f| f.severity == Severity::Error) {
        panic!(
            "a signature is incompatible with itself: {} {}: {}\n{text}",
            f.code, f.path, f.message
        );
    }
}

/// The seeds: the `.most` files of compat's differential corpus (real moc output).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/compat/tests/motoko_corpus");
    let mut out = Vec::new();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    cases.sort();
    // Every fourth case keeps the corpus small; the rest add little.
    for case in cases.iter().step_by(4) {
        for file in ["old.most", "new.most"] {
            let path = case.join(file);
            if let Ok(text) = std::fs::read(&path) {
                let name = format!(
                    "{}-{file}",
                    case.file_name().unwrap_or_default().to_string_lossy()
                );
                out.push((name, text));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// Inputs that once broke a promise.
    #[test]
    fn found_inputs_keep_the_promises() {
        // non-regular recursion: "too deeply nested to compare" against itself (now refused
        // while parsing, as moc refuses it)
        super::parse_text(
            "// Version: 1.0.0\ntype List__1021506447<T >= ?(T, List__1021506447<?T>);\nactor {\n  stable var items : ?({c : Int32}, List__1021506447<{c : Int32}>)\n};\n",
        );
    }
}
