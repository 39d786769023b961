//! Any bytes as a PocketIC request body (the first byte picks the request). See
//! `drydock_fuzz::pocketic`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    drydock_fuzz::pocketic::decode_bytes(bytes);
});
