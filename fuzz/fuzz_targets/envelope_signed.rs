//! Requests built, signed (with delegation chains) and tampered with from a structured spec:
//! the decoder must accept exactly the acceptable ones. See `drydock_fuzz::envelope::Spec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|spec: drydock_fuzz::envelope::Spec| {
    spec.check();
});
