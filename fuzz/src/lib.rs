//! Generators for drydock's fuzz targets. The targets in `fuzz_targets/` are thin glue: they
//! hand their input to a function here, which drives the decoder under test and checks what
//! it promises.
//!
//! - [`envelope`]: the HTTP request envelope decoder (`drydock_http::envelope`), from raw
//!   bytes ([`envelope::decode_bytes`]) and from structured specs that build and sign real
//!   envelopes ([`envelope::Spec`]), plus the seed corpus ([`envelope::seeds`]).

pub mod envelope;
