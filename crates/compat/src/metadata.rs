//! `icp:public NAME` / `icp:private NAME` custom sections: reading and writing them.
//!
//! The IC serves these sections as canister metadata (`/canister/<id>/metadata/<NAME>` in the
//! state tree; private ones to controllers only). Writing one never re-encodes the module:
//! every other section is copied byte for byte from the input, so code offsets, names and
//! producers stay exactly as the compiler emitted them.
//!
//! Limits (the IC's, as drydock's replica enforces them at install): at most
//! [`MAX_ICP_SECTIONS`] `icp:` sections, and at most [`MAX_ICP_SECTIONS_BYTES`] in all, counted
//! as the NAME (without the `icp:public `/`icp:private ` prefix) plus the content of each.

use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;

use wasmparser::{Encoding, Parser, Payload};

use crate::CompatError;

/// The most a gzipped module may decompress to (the IC's module size limit).
pub const MAX_DECOMPRESSED_BYTES: u64 = 100 * 1024 * 1024;
/// At most this many `icp:public`/`icp:private` custom sections.
pub const MAX_ICP_SECTIONS: usize = 16;
/// At most this many bytes in all `icp:` sections: the NAME of each plus its content.
pub const MAX_ICP_SECTIONS_BYTES: u64 = 1024 * 1024;

const PUBLIC_PREFIX: &str = "icp:public ";
const PRIVATE_PREFIX: &str = "icp:private ";

/// Who may read a metadata section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    /// The section name prefix, with its trailing space: `icp:public ` or `icp:private `.
    pub fn prefix(self) -> &'static str {
        match self {
            Visibility::Public => PUBLIC_PREFIX,
            Visibility::Private => PRIVATE_PREFIX,
        }
    }
}

/// One `icp:` custom section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataSection {
    /// The name after the `icp:public ` / `icp:private ` prefix, e.g. `candid:service`.
    pub name: String,
    pub visibility: Visibility,
    pub content: Vec<u8>,
}

impl MetadataSection {
    /// The full custom section name, e.g. `icp:public candid:service`.
    pub fn section_name(&self) -> String {
        format!("{}{}", self.visibility.prefix(), self.name)
    }
}

/// For `icp:public NAME` / `icp:private NAME`, the visibility and NAME.
pub fn parse_section_name(section_name: &str) -> Option<(Visibility, &str)> {
    if let Some(n) = section_name.strip_prefix(PUBLIC_PREFIX) {
        Some((Visibility::Public, n))
    } else {
        section_name
            .strip_prefix(PRIVATE_PREFIX)
            .map(|n| (Visibility::Private, n))
    }
}

/// Whether `bytes` look like gzip (magic `1f 8b`).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The raw module: `wasm` itself, or its decompression when it is gzip (refused past
/// [`MAX_DECOMPRESSED_BYTES`]). Bytes that do not start with the Wasm magic `\0asm` are
/// refused here with one line naming what was found, as the replica refuses them.
pub fn unpack(wasm: &[u8]) -> Result<Cow<'_, [u8]>, CompatError> {
    if !is_gzip(wasm) {
        check_magic(wasm, "")?;
        return Ok(Cow::Borrowed(wasm));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(wasm)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| CompatError::Wasm(format!("gzip: {e}")))?;
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > MAX_DECOMPRESSED_BYTES {
        return Err(CompatError::Wasm(format!(
            "the gzipped module decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes \
             (the IC's limit)"
        )));
    }
    check_magic(&out, "the gunzipped content: ")?;
    Ok(Cow::Owned(out))
}

/// Refuses bytes without the Wasm magic, in one line: wasmparser's own message spreads the
/// expected and found bytes over a dozen lines.
fn check_magic(bytes: &[u8], what: &str) -> Result<(), CompatError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(());
    }
    if bytes.is_empty() {
        return Err(CompatError::Wasm(format!("{what}it is empty (0 bytes)")));
    }
    let found: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(CompatError::Wasm(format!(
        "{what}expected the magic \\0asm (00 61 73 6d) or gzip (1f 8b), found {}",
        found.join(" ")
    )))
}

/// One section of a module, as it lies in the bytes.
pub(crate) struct RawSection<'a> {
    /// The whole section: id byte, size and contents.
    pub range: Range<usize>,
    /// For a custom section: its name and data.
    pub custom: Option<(&'a str, &'a [u8])>,
}

/// Every section of a raw module, in order, with the 8-byte header at `0..8`. Parses the whole
/// module, so malformed input is an error.
pub(crate) fn sections(wasm: &[u8]) -> Result<Vec<RawSection<'_>>, CompatError> {
    let mut out = Vec::new();
    let mut prev_end: Option<usize> = None;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| CompatError::wasm(&e))?;
        let (contents, custom) = match &payload {
            Payload::Version {
                encoding, range, ..
            } => {
                if *encoding != Encoding::Module {
                    return Err(CompatError::Wasm(
                        "this is a Wasm component, not a core module".to_string(),
                    ));
                }
                if prev_end.is_some() {
                    return Err(CompatError::Wasm("nested module header".to_string()));
                }
                prev_end = Some(range.end);
                continue;
            }
            Payload::CustomSection(r) => (r.range(), Some((r.name(), r.data()))),
            Payload::End(offset) => {
                if prev_end != Some(*offset) {
                    return Err(CompatError::Wasm(format!(
                        "unexpected end of module at offset 0x{offset:x}"
                    )));
                }
                break;
            }
            other => match other.as_section() {
                Some((_, range)) => (range, None),
                None => continue,
            },
        };
        let start = prev_end
            .ok_or_else(|| CompatError::Wasm("section before the module header".to_string()))?;
        if contents.end < start || contents.end > wasm.len() {
            return Err(CompatError::Wasm(format!(
                "section at offset 0x{start:x} has an invalid extent"
            )));
        }
        out.push(RawSection {
            range: start..contents.end,
            custom,
        });
        prev_end = Some(contents.end);
    }
    if prev_end != Some(wasm.len()) {
        return Err(CompatError::Wasm(
            "trailing bytes after the last section".to_string(),
        ));
    }
    Ok(out)
}

/// The `icp:` custom sections of a module (raw or gzipped Wasm), in module order.
pub fn read(wasm: &[u8]) -> Result<Vec<MetadataSection>, CompatError> {
    let wasm = unpack(wasm)?;
    let mut out = Vec::new();
    for s in sections(&wasm)? {
        if let Some((name, data)) = s.custom {
            if let Some((visibility, name)) = parse_section_name(name) {
                out.push(MetadataSection {
                    name: name.to_string(),
                    visibility,
                    content: data.to_vec(),
                });
            }
        }
    }
    Ok(out)
}

/// The content of metadata `name` (public or private), if the module has it.
pub fn get(wasm: &[u8], name: &str) -> Result<Option<MetadataSection>, CompatError> {
    Ok(read(wasm)?.into_iter().find(|s| s.name == name))
}

/// The module with metadata `name` set to `content` with `visibility`: an existing section of
/// that name (either visibility) is replaced in place, otherwise the section is appended.
/// Every other section is copied as is. The output is raw Wasm even when the input is gzip.
pub fn write(
    wasm: &[u8],
    name: &str,
    visibility: Visibility,
    content: &[u8],
) -> Result<Vec<u8>, CompatError> {
    check_name(name)?;
    let own = u64::try_from(name.len().saturating_add(content.len())).unwrap_or(u64::MAX);
    if own > MAX_ICP_SECTIONS_BYTES {
        return Err(CompatError::Metadata(format!(
            "metadata `{name}` would be {own} bytes (name plus content), over the IC's limit of \
             {MAX_ICP_SECTIONS_BYTES} bytes (1 MiB) for all `icp:` sections together"
        )));
    }
    let section_name = format!("{}{name}", visibility.prefix());
    let section = encode_custom_section(&section_name, content)?;
    let out = rebuild(wasm, name, Some(section))?;
    check_limits(&out)?;
    Ok(out)
}

/// The module without metadata `name` (either visibility). A module without it comes back
/// unchanged (but raw, when the input was gzip).
pub fn remove(wasm: &[u8], name: &str) -> Result<Vec<u8>, CompatError> {
    rebuild(wasm, name, None)
}

fn check_name(name: &str) -> Result<(), CompatError> {
    if name.is_empty() {
        return Err(CompatError::Metadata(
            "the metadata name is empty".to_string(),
        ));
    }
    if name.starts_with("icp:") {
        return Err(CompatError::Metadata(format!(
            "`{name}`: give the name without the `icp:public `/`icp:private ` prefix and choose \
             the visibility separately"
        )));
    }
    Ok(())
}

/// Copies `wasm` dropping every `icp:` section named `name`; `replacement` (a whole encoded
/// section) goes where the first of them was, or at the end.
fn rebuild(wasm: &[u8], name: &str, replacement: Option<Vec<u8>>) -> Result<Vec<u8>, CompatError> {
    let wasm = unpack(wasm)?;
    let sections = sections(&wasm)?;
    let mut replacement = replacement;
    let mut out = Vec::with_capacity(wasm.len() + replacement.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(wasm.get(..8).unwrap_or_default());
    for s in &sections {
        if let Some((section_name, _)) = s.custom {
            if parse_section_name(section_name).is_some_and(|(_, n)| n == name) {
                if let Some(r) = replacement.take() {
                    out.extend_from_slice(&r);
                }
                continue;
            }
        }
        out.extend_from_slice(wasm.get(s.range.clone()).unwrap_or_default());
    }
    if let Some(r) = replacement.take() {
        out.extend_from_slice(&r);
    }
    Ok(out)
}

/// The IC's limits on the `icp:` sections of `wasm` (raw).
fn check_limits(wasm: &[u8]) -> Result<(), CompatError> {
    let mut count: usize = 0;
    let mut bytes: u64 = 0;
    for s in sections(wasm)? {
        if let Some((section_name, data)) = s.custom {
            if let Some((_, n)) = parse_section_name(section_name) {
                count += 1;
                bytes = bytes
                    .saturating_add(u64::try_from(n.len()).unwrap_or(u64::MAX))
                    .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
            }
        }
    }
    if count > MAX_ICP_SECTIONS {
        return Err(CompatError::Metadata(format!(
            "the module would have {count} `icp:` custom sections, over the IC's limit of \
             {MAX_ICP_SECTIONS}"
        )));
    }
    if bytes > MAX_ICP_SECTIONS_BYTES {
        return Err(CompatError::Metadata(format!(
            "the module's `icp:` custom sections would be {bytes} bytes in all (names without \
             the prefix plus contents), over the IC's limit of {MAX_ICP_SECTIONS_BYTES} bytes \
             (1 MiB)"
        )));
    }
    Ok(())
}

/// A whole custom section: id 0, size, name and data.
fn encode_custom_section(name: &str, data: &[u8]) -> Result<Vec<u8>, CompatError> {
    let too_large = || CompatError::Metadata(format!("section `{name}` is too large"));
    let name_len = u32::try_from(name.len()).map_err(|_| too_large())?;
    let mut contents = Vec::with_capacity(name.len() + data.len() + 5);
    leb_u32(&mut contents, name_len);
    contents.extend_from_slice(name.as_bytes());
    contents.extend_from_slice(data);
    let size = u32::try_from(contents.len()).map_err(|_| too_large())?;
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(0);
    leb_u32(&mut out, size);
    out.extend_from_slice(&contents);
    Ok(out)
}

fn leb_u32(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
