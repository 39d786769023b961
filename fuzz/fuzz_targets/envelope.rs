//! Any bytes as an HTTP request body: `decode_envelope` must never panic, and whatever it
//! accepts must be within the expiry window. See `drydock_fuzz::envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    drydock_fuzz::envelope::decode_bytes(body);
});
