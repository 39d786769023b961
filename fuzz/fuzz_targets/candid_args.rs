//! Any bytes as a management call's Candid argument, decoded as drydock decodes them; and
//! real arguments built from a spec, whose canister id must be found. See
//! `drydock_fuzz::candid_args`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (bool, &[u8])| {
    let (structured, bytes) = input;
    if structured {
        if let Ok(t) =
            arbitrary::Unstructured::new(bytes).arbitrary::<drydock_fuzz::candid_args::Target>()
        {
            t.check();
        }
    } else {
        drydock_fuzz::candid_args::decode_bytes(bytes);
    }
});
