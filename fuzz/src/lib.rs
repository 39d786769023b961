//! Generators for drydock's fuzz targets. The targets in `fuzz_targets/` are thin glue: they
//! hand their input to a function here, which drives the decoder under test and checks what
//! it promises.
//!
//! - [`envelope`]: the HTTP request envelope decoder (`drydock_http::envelope`), from raw
//!   bytes ([`envelope::decode_bytes`]) and from structured specs that build and sign real
//!   envelopes ([`envelope::Spec`]), plus the seed corpus ([`envelope::seeds`]).
//! - [`module_intake`]: Wasm module intake (`drydock_exec::module::prepare`, no wasmtime).
//! - [`candid_args`]: Candid arguments of management calls, as the HTTP layer and the
//!   management canister decode them.
//! - [`most`]: Motoko stable signatures (`drydock_compat::motoko::parse`).
//! - [`snapshot_upload`]: snapshot upload arguments (metadata and data).
//! - [`pocketic`]: the PocketIC protocol's request bodies (`drydock_pocketic::request`).
//!
//! Each module's `seeds()` gives its committed corpus (`cargo run --bin seeds`).

/// The quotas drydock decodes a caller's Candid argument with: a copy of
/// `drydock_replica::candid_decoder_config`, kept in step by hand (the replica is not built
/// here: it needs wasmtime).
pub fn candid_decoder_config(arg_len: usize) -> candid::de::DecoderConfig {
    let quota = arg_len.saturating_mul(64).saturating_add(2_000_000);
    let mut config = candid::de::DecoderConfig::new();
    config.set_decoding_quota(quota).set_skipping_quota(quota);
    config
}

/// `candid::decode_one` within [`candid_decoder_config`], as drydock's management canister
/// decodes its arguments.
pub fn decode_arg<'a, T: serde::Deserialize<'a> + candid::CandidType>(
    arg: &'a [u8],
) -> candid::Result<T> {
    candid::utils::decode_one_with_config(arg, &candid_decoder_config(arg.len()))
}

pub mod candid_args;
pub mod envelope;
pub mod module_intake;
pub mod most;
pub mod pocketic;
pub mod snapshot_upload;

/// The seed corpora of the targets other than the envelope ones, by target name.
pub fn seed_corpora() -> Vec<(&'static str, Vec<(String, Vec<u8>)>)> {
    vec![
        ("module_intake", module_intake::seeds()),
        ("candid_args", candid_args::seeds()),
        ("most", most::seeds()),
        ("snapshot_upload", snapshot_upload::seeds()),
        ("pocketic", pocketic::seeds()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_seeds_are_the_generated_ones_and_pass_their_targets() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");
        for (target, seeds) in seed_corpora() {
            assert!(!seeds.is_empty(), "{target} has no seeds");
            for (name, bytes) in seeds {
                let committed =
                    std::fs::read(format!("{root}/{target}/{name}")).unwrap_or_else(|e| {
                        panic!("{target}/{name}: {e}; run `cargo run --bin seeds`")
                    });
                assert_eq!(
                    committed, bytes,
                    "{target}/{name}: run `cargo run --bin seeds`"
                );
                match target {
                    "module_intake" => module_intake::prepare_bytes(&bytes),
                    "candid_args" => {
                        candid_args::fuzz_one(&bytes);
                        candid_args::decode_bytes(&bytes[1..]);
                    }
                    "most" => most::parse_text(std::str::from_utf8(&bytes).expect("utf-8")),
                    "snapshot_upload" => snapshot_upload::decode_bytes(&bytes),
                    "pocketic" => pocketic::decode_bytes(&bytes),
                    other => panic!("unknown target {other}"),
                }
            }
        }
    }

    #[test]
    fn real_modules_pass_intake_and_real_signatures_parse() {
        let accepted = module_intake::seeds()
            .iter()
            .filter(|(_, b)| drydock_exec::module::prepare(b).is_ok())
            .count();
        assert!(accepted >= 10, "only {accepted} fixtures pass intake");
        for (name, text) in most::seeds() {
            let text = String::from_utf8(text).expect("utf-8");
            assert!(
                drydock_compat::motoko::parse(&text).is_ok(),
                "{name} does not parse"
            );
        }
    }

    #[test]
    fn a_management_target_is_found_and_a_huge_vec_null_is_cut_short() {
        let target = candid_args::Target {
            id: vec![1, 2, 3],
            wasm: vec![0; 1000],
            extra: Some(5),
        };
        target.check();
        let (_, huge) = candid_args::seeds()
            .into_iter()
            .find(|(n, _)| n == "vec_null.bin")
            .expect("seed");
        // The first byte picks the decoding (`management_target`) in the fuzz target.
        assert_eq!(huge[0], 0);
        assert_eq!(drydock_http::envelope::management_target(&huge[1..]), None);
        candid_args::decode_bytes(&huge[1..]);
    }
}
