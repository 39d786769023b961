//! Any bytes as the argument of `upload_canister_snapshot_metadata` or
//! `upload_canister_snapshot_data`. See `drydock_fuzz::snapshot_upload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    drydock_fuzz::snapshot_upload::decode_bytes(bytes);
});
