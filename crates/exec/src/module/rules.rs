//! The IC's structural rules, checked on a module the validator has accepted, and the facts
//! intake records about it.
//!
//! Source: the interface spec, `docs/references/ic-interface-spec/canister-interface.md`,
//! "WebAssembly module requirements", and the IC's own validator
//! (`rs/embedders/src/wasm_utils/validation.rs`) where the spec leaves details open.

use std::collections::{BTreeMap, BTreeSet};

use wasmparser::{
    CompositeInnerType, DataKind, ExternalKind, FuncType, Parser, Payload, TypeRef, ValType,
};

use super::{
    ExportInfo, ModuleError, MAX_FUNCTIONS, MAX_GLOBALS, MAX_ICP_CUSTOM_SECTIONS,
    MAX_ICP_CUSTOM_SECTIONS_BYTES, MAX_METHODS, MAX_METHOD_NAMES_BYTES, RESERVED_EXPORT_PREFIX,
};

/// What the scan learned; `prepare` turns it into a `PreparedModule`.
#[derive(Default)]
pub(super) struct Facts {
    pub exports: ExportInfo,
    pub custom_sections: BTreeMap<String, Vec<u8>>,
    pub imports: Vec<(String, String)>,
    pub mutable_globals: Vec<u32>,
    /// `Some(is_memory64)` when the module defines a memory.
    pub memory64: Option<bool>,
    /// The start function's index.
    pub start: Option<u32>,
    /// The module defines a table (table 0 holds the callbacks of calls).
    pub has_table: bool,
    pub data_segments_bytes: u64,
}

/// Export names the IC reserves besides the `canister_` prefix.
const IC_RESERVED_EXPORTS: [&str; 1] = ["canister counter_instructions"];

/// The hooks: exported under exactly these names, with type `() -> ()`.
const HOOKS: [&str; 7] = [
    "canister_init",
    "canister_pre_upgrade",
    "canister_post_upgrade",
    "canister_heartbeat",
    "canister_global_timer",
    "canister_inspect_message",
    "canister_on_low_wasm_memory",
];

/// The method kinds, by export-name prefix (exactly one space before `<name>`).
const METHOD_PREFIXES: [(&str, &str); 3] = [
    ("canister_update ", "canister_update"),
    ("canister_query ", "canister_query"),
    ("canister_composite_query ", "canister_composite_query"),
];

fn invalid(e: wasmparser::BinaryReaderError) -> ModuleError {
    ModuleError::Invalid(e.to_string())
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Scans a validated module: checks the IC's rules and collects the facts.
pub(super) fn scan(wasm: &[u8]) -> Result<Facts, ModuleError> {
    let mut facts = Facts::default();
    // Type index -> its function type (None for a non-function type, which the features rule
    // out, but a scan must not trust that).
    let mut types: Vec<Option<FuncType>> = Vec::new();
    // Function index -> type index, imports first.
    let mut functions: Vec<u32> = Vec::new();
    let mut memories: u64 = 0;
    // Metadata names (without the `icp:public `/`icp:private ` prefix) seen so far.
    let mut metadata_names: BTreeSet<String> = BTreeSet::new();
    let mut metadata_bytes: u64 = 0;

    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(invalid)?.into_types() {
                        types.push(match sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(invalid)?;
                    let kind = match import.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            functions.push(t);
                            None
                        }
                        TypeRef::Memory(_) => Some("memory"),
                        TypeRef::Table(_) => Some("table"),
                        TypeRef::Global(_) => Some("global"),
                        TypeRef::Tag(_) => Some("tag"),
                    };
                    if let Some(kind) = kind {
                        return Err(ModuleError::NonFunctionImport {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                            kind,
                        });
                    }
                    if import.module != "ic0" {
                        return Err(ModuleError::ForeignImport {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                        });
                    }
                    facts
                        .imports
                        .push((import.module.to_string(), import.name.to_string()));
                }
            }
            Payload::FunctionSection(reader) => {
                let defined = reader.count();
                if usize::try_from(defined).unwrap_or(usize::MAX) > MAX_FUNCTIONS {
                    return Err(ModuleError::TooManyFunctions {
                        count: u64::from(defined),
                        limit: count(MAX_FUNCTIONS),
                    });
                }
                for ty in reader {
                    functions.push(ty.map_err(invalid)?);
                }
            }
            Payload::TableSection(reader) => {
                facts.has_table |= reader.count() > 0;
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(invalid)?;
                    memories += 1;
                    if memories > 1 {
                        continue;
                    }
                    facts.memory64 = Some(memory.memory64);
                }
                if memories > 1 {
                    return Err(ModuleError::TooManyMemories { count: memories });
                }
            }
            Payload::GlobalSection(reader) => {
                let defined = reader.count();
                if usize::try_from(defined).unwrap_or(usize::MAX) > MAX_GLOBALS {
                    return Err(ModuleError::TooManyGlobals {
                        count: u64::from(defined),
                        limit: count(MAX_GLOBALS),
                    });
                }
                // Global imports are refused above, so defined global i has index i.
                for (index, global) in (0u32..).zip(reader) {
                    let global = global.map_err(invalid)?;
                    if !global.ty.mutable {
                        continue;
                    }
                    if let ValType::Ref(r) = global.ty.content_type {
                        return Err(ModuleError::UnsupportedGlobal {
                            index,
                            ty: r.to_string(),
                        });
                    }
                    facts.mutable_globals.push(index);
                }
            }
            Payload::ExportSection(reader) => {
                let mut method_kinds: BTreeMap<&str, &'static str> = BTreeMap::new();
                let mut method_name_bytes: usize = 0;
                for export in reader {
                    let export = export.map_err(invalid)?;
                    check_export(
                        export,
                        &types,
                        &functions,
                        &mut facts.exports,
                        &mut method_kinds,
                        &mut method_name_bytes,
                    )?;
                }
                if method_kinds.len() > MAX_METHODS {
                    return Err(ModuleError::TooManyMethods {
                        count: count(method_kinds.len()),
                        limit: count(MAX_METHODS),
                    });
                }
                if method_name_bytes > MAX_METHOD_NAMES_BYTES {
                    return Err(ModuleError::MethodNamesTooLong {
                        total: count(method_name_bytes),
                        limit: count(MAX_METHOD_NAMES_BYTES),
                    });
                }
            }
            Payload::StartSection { func, .. } => facts.start = Some(func),
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.map_err(invalid)?;
                    if let DataKind::Active { .. } = data.kind {
                        facts.data_segments_bytes = facts
                            .data_segments_bytes
                            .saturating_add(count(data.data.len()));
                    }
                }
            }
            Payload::CustomSection(section) => {
                let name = section.name();
                let Some(metadata_name) = metadata_name(name)? else {
                    continue;
                };
                if !metadata_names.insert(metadata_name.to_string()) {
                    return Err(ModuleError::DuplicateCustomSection {
                        name: metadata_name.to_string(),
                    });
                }
                metadata_bytes = metadata_bytes
                    .saturating_add(count(metadata_name.len()))
                    .saturating_add(count(section.data().len()));
                if metadata_bytes > MAX_ICP_CUSTOM_SECTIONS_BYTES {
                    return Err(ModuleError::CustomSectionsTooLarge {
                        size: metadata_bytes,
                        limit: MAX_ICP_CUSTOM_SECTIONS_BYTES,
                    });
                }
                if metadata_names.len() > MAX_ICP_CUSTOM_SECTIONS {
                    return Err(ModuleError::TooManyCustomSections {
                        count: count(metadata_names.len()),
                        limit: count(MAX_ICP_CUSTOM_SECTIONS),
                    });
                }
                facts
                    .custom_sections
                    .insert(name.to_string(), section.data().to_vec());
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// For `icp:public <name>` / `icp:private <name>`, `Some(<name>)` (which may be empty); `None`
/// for a section not starting with `icp:`; an error for other `icp:` names.
fn metadata_name(section_name: &str) -> Result<Option<&str>, ModuleError> {
    if !section_name.starts_with("icp:") {
        return Ok(None);
    }
    section_name
        .strip_prefix("icp:public ")
        .or_else(|| section_name.strip_prefix("icp:private "))
        .map(Some)
        .ok_or_else(|| ModuleError::InvalidCustomSectionName {
            name: section_name.to_string(),
        })
}

fn check_export<'a>(
    export: wasmparser::Export<'a>,
    types: &[Option<FuncType>],
    functions: &[u32],
    info: &mut ExportInfo,
    method_kinds: &mut BTreeMap<&'a str, &'static str>,
    method_name_bytes: &mut usize,
) -> Result<(), ModuleError> {
    let name = export.name;
    if name.starts_with(RESERVED_EXPORT_PREFIX) || IC_RESERVED_EXPORTS.contains(&name) {
        return Err(ModuleError::ReservedExport {
            export: name.to_string(),
        });
    }
    // Like the IC, only function exports are checked against the `canister_` names.
    if !matches!(export.kind, ExternalKind::Func | ExternalKind::FuncExact) {
        return Ok(());
    }
    let method = METHOD_PREFIXES
        .iter()
        .find_map(|(prefix, kind)| name.strip_prefix(prefix).map(|method| (*kind, method)));
    if let Some((kind, method)) = method {
        if let Some(first) = method_kinds.insert(method, kind) {
            return Err(ModuleError::DuplicateMethod {
                method: method.to_string(),
                first,
                second: kind,
            });
        }
        *method_name_bytes = method_name_bytes.saturating_add(method.len());
        let set = match kind {
            "canister_update" => &mut info.updates,
            "canister_query" => &mut info.queries,
            _ => &mut info.composite_queries,
        };
        set.insert(method.to_string());
    } else if HOOKS.contains(&name) {
        let flag = match name {
            "canister_init" => &mut info.init,
            "canister_pre_upgrade" => &mut info.pre_upgrade,
            "canister_post_upgrade" => &mut info.post_upgrade,
            "canister_heartbeat" => &mut info.heartbeat,
            "canister_global_timer" => &mut info.global_timer,
            "canister_inspect_message" => &mut info.inspect_message,
            _ => &mut info.on_low_wasm_memory,
        };
        *flag = true;
    } else if name.starts_with("canister_") {
        return Err(ModuleError::UnknownCanisterExport {
            export: name.to_string(),
        });
    } else {
        return Ok(());
    }

    let ty = usize::try_from(export.index)
        .ok()
        .and_then(|f| functions.get(f))
        .and_then(|&t| usize::try_from(t).ok())
        .and_then(|t| types.get(t))
        .and_then(Option::as_ref);
    match ty {
        Some(f) if f.params().is_empty() && f.results().is_empty() => Ok(()),
        Some(f) => Err(ModuleError::InvalidExportSignature {
            export: name.to_string(),
            found: signature(f),
        }),
        None => Err(ModuleError::InvalidExportSignature {
            export: name.to_string(),
            found: "an unknown type".to_string(),
        }),
    }
}

fn signature(f: &FuncType) -> String {
    let list = |tys: &[ValType]| {
        tys.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(f.params()), list(f.results()))
}
