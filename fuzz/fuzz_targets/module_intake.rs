//! Any bytes as an installed module: intake must accept or refuse, never panic, and what it
//! accepts must instrument into valid Wasm. See `drydock_fuzz::module_intake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    drydock_fuzz::module_intake::prepare_bytes(bytes);
});
