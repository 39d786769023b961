//! The one error type of `drydock-compat`: input that could not be read at all. A check that
//! ran and found an incompatibility is not an error; it is a [`crate::Finding`].

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    /// The bytes are not a Wasm module (or a gzipped one).
    #[error("not a valid Wasm module: {0}")]
    Wasm(String),
    /// A Candid service or argument text that does not parse or type-check.
    #[error("invalid Candid ({what}): {cause}")]
    Candid { what: String, cause: String },
    /// A Motoko stable signature (`.most`) that does not parse.
    #[error("invalid Motoko stable signature at line {line}, column {column}: {cause}")]
    Motoko {
        line: usize,
        column: usize,
        cause: String,
    },
    /// A metadata section that cannot be written (bad name, too large, too many).
    #[error("metadata: {0}")]
    Metadata(String),
}

impl CompatError {
    /// wasmparser's error as one line: some of its messages print byte arrays over many lines.
    pub(crate) fn wasm(e: &wasmparser::BinaryReaderError) -> Self {
        CompatError::Wasm(
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}
