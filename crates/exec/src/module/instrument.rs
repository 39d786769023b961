//! The instrumentation: extra exports for the embedder, and the start function moved out of the
//! start section. Every other section is copied byte for byte, so all indices stay the same.

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{ExportKind, ExportSection, RawSection};
use wasmparser::{Parser, Payload};

use super::rules::Facts;
use super::{global_export_name, ModuleError, MEMORY_EXPORT, START_EXPORT, TABLE_EXPORT};

/// Section ids that come after the export section in a module (start, element, code, data,
/// data count): the export section is inserted before the first of them when the module has
/// none.
const AFTER_EXPORTS: [u8; 5] = [8, 9, 10, 11, 12];
const EXPORT_SECTION_ID: u8 = 7;
const START_SECTION_ID: u8 = 8;

fn failed(e: impl std::fmt::Display) -> ModuleError {
    ModuleError::Instrumentation(e.to_string())
}

pub(super) fn instrument(wasm: &[u8], facts: &Facts) -> Result<Vec<u8>, ModuleError> {
    let mut extra: Vec<(String, ExportKind, u32)> = Vec::new();
    if facts.memory64.is_some() {
        extra.push((MEMORY_EXPORT.to_string(), ExportKind::Memory, 0));
    }
    for &index in &facts.mutable_globals {
        extra.push((global_export_name(index), ExportKind::Global, index));
    }
    if facts.has_table {
        extra.push((TABLE_EXPORT.to_string(), ExportKind::Table, 0));
    }
    if let Some(func) = facts.start {
        extra.push((START_EXPORT.to_string(), ExportKind::Func, func));
    }
    let add_extra = |section: &mut ExportSection| {
        for (name, kind, index) in &extra {
            section.export(name, *kind, *index);
        }
    };

    let mut out = wasm_encoder::Module::new();
    let mut exports_done = extra.is_empty();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(failed)?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        if id == EXPORT_SECTION_ID {
            if let Payload::ExportSection(reader) = payload {
                let mut section = ExportSection::new();
                RoundtripReencoder
                    .parse_export_section(&mut section, reader)
                    .map_err(failed)?;
                add_extra(&mut section);
                out.section(&section);
                exports_done = true;
                continue;
            }
        }
        if !exports_done && AFTER_EXPORTS.contains(&id) {
            let mut section = ExportSection::new();
            add_extra(&mut section);
            out.section(&section);
            exports_done = true;
        }
        if id == START_SECTION_ID {
            continue;
        }
        let data = wasm
            .get(range)
            .ok_or_else(|| failed("section range out of bounds"))?;
        out.section(&RawSection { id, data });
    }
    if !exports_done {
        let mut section = ExportSection::new();
        add_extra(&mut section);
        out.section(&section);
    }
    Ok(out.finish())
}
