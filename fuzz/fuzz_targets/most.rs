//! Any text as a Motoko stable signature (`.most`): the parser must not panic, and what it
//! accepts must be compatible with itself. See `drydock_fuzz::most`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        drydock_fuzz::most::parse_text(text);
    }
});
