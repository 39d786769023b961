//! Any bytes as a management call's Candid argument, decoded one of the ways drydock decodes
//! them (the first byte picks which); or real arguments built from a spec, whose canister id
//! must be found. See `drydock_fuzz::candid_args::fuzz_one`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    drydock_fuzz::candid_args::fuzz_one(input);
});
