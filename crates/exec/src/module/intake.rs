//! Size limits, gunzip and the header check: everything before the Wasm validator runs.

use std::borrow::Cow;
use std::io::Read;

use super::{ModuleError, MAX_CODE_SECTION_BYTES, MAX_WASM_MODULE_BYTES};

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const WASM_MAGIC: [u8; 4] = *b"\0asm";

/// Whether the IC treats `bytes` as gzip: it starts with `1f 8b 08` (the spec's rule).
pub(super) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Applies the 100 MiB limit to the blob and gunzips it if it is gzip, stopping as soon as the
/// output passes 100 MiB.
pub(super) fn unpack(bytes: &[u8]) -> Result<Cow<'_, [u8]>, ModuleError> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_WASM_MODULE_BYTES {
        return Err(ModuleError::TooLarge {
            size,
            limit: MAX_WASM_MODULE_BYTES,
        });
    }
    if !is_gzip(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_WASM_MODULE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| ModuleError::Gzip(e.to_string()))?;
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > MAX_WASM_MODULE_BYTES {
        return Err(ModuleError::DecompressedTooLarge {
            limit: MAX_WASM_MODULE_BYTES,
        });
    }
    Ok(Cow::Owned(out))
}

/// Checks the `\0asm` magic and the version (1: a core module, not a component).
pub(super) fn check_header(wasm: &[u8], was_gzip: bool) -> Result<(), ModuleError> {
    let what = if was_gzip {
        "the gunzipped content is not a Wasm module"
    } else {
        "not a Wasm module"
    };
    if !wasm.starts_with(&WASM_MAGIC) {
        return Err(ModuleError::NotWasm(not_wasm_message(what, wasm)));
    }
    match wasm.get(4..8) {
        None => Err(ModuleError::Invalid(format!(
            "the module is {} bytes long and ends inside the 8-byte header (magic and version) \
             (at offset 0x{:x})",
            wasm.len(),
            wasm.len()
        ))),
        Some([1, 0, 0, 0]) => Ok(()),
        Some([0x0d, 0x00, 0x01, 0x00]) => Err(ModuleError::Invalid(
            "this is a Wasm component (binary version 0x0d, layer 1), not a core module; the IC \
             runs core Wasm modules only: build the canister for wasm32-unknown-unknown (or \
             wasm32-wasip1 with `wasi2ic`), not for wasm32-wasip2 (at offset 0x4)"
                .to_string(),
        )),
        Some(version) => Err(ModuleError::Invalid(format!(
            "unsupported Wasm binary version {}: only version 1 (01 00 00 00) is accepted \
             (at offset 0x4)",
            hex_spaced(version)
        ))),
    }
}

fn not_wasm_message(what: &str, bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return format!("{what}: it is empty (0 bytes)");
    }
    let head = &bytes[..bytes.len().min(8)];
    let mut msg = format!(
        "{what}: expected the magic \\0asm (00 61 73 6d) or gzip (1f 8b 08), found {}",
        hex_spaced(head)
    );
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
    let trimmed = text.trim_start();
    if trimmed.starts_with("(module") || trimmed.starts_with(";;") || trimmed.starts_with("(;") {
        msg.push_str(
            "; this looks like WebAssembly text (WAT): convert it to binary first, e.g. with \
             `wasm-tools parse` or `wat2wasm`",
        );
    } else if head.starts_with(b"PK") {
        msg.push_str("; this looks like a zip archive: unpack the .wasm file from it");
    } else if head.starts_with(&[0x1f, 0x8b]) {
        msg.push_str("; this is gzip with a compression method other than deflate (08)");
    } else if head.starts_with(b"\x7fELF") || head.starts_with(b"MZ") {
        msg.push_str("; this is a native executable: build for wasm32-unknown-unknown");
    } else if trimmed.starts_with('{') || trimmed.starts_with('<') || trimmed.starts_with('#') {
        msg.push_str("; this looks like a text file, not a compiled canister");
    }
    msg
}

fn hex_spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The checks that run before the validator: the code section (as a whole) may be at most
/// 10 MiB (the IC's first check, and cheap for a huge module), and at most one memory may be
/// declared (imported or defined; counted here so that a second memory gets its own error
/// rather than the validator's "multiple memories").
pub(super) fn precheck(wasm: &[u8]) -> Result<(), ModuleError> {
    let mut memories: u64 = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| ModuleError::Invalid(e.to_string()))? {
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| ModuleError::Invalid(e.to_string()))?;
                    if let wasmparser::TypeRef::Memory(_) = import.ty {
                        memories += 1;
                    }
                }
            }
            wasmparser::Payload::MemorySection(reader) => {
                memories = memories.saturating_add(u64::from(reader.count()));
            }
            wasmparser::Payload::CodeSectionStart { size, .. } => {
                let size = u64::from(size);
                if size > MAX_CODE_SECTION_BYTES {
                    return Err(ModuleError::CodeSectionTooLarge {
                        size,
                        limit: MAX_CODE_SECTION_BYTES,
                    });
                }
                break;
            }
            wasmparser::Payload::End(_) => break,
            _ => {}
        }
    }
    if memories > 1 {
        return Err(ModuleError::TooManyMemories { count: memories });
    }
    Ok(())
}
