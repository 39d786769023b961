//! Wasm structure checks between two modules: exports, hooks, imports, the EOP marker.
//!
//! These are what the Candid and Motoko checks cannot see: the methods a module really
//! exports (a `.did` file may list a method the code dropped), the system hooks an upgrade
//! relies on, the imports the replica must provide, and the persistence mode.

use std::collections::BTreeSet;

use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

use crate::metadata::{self, MetadataSection};
use crate::{Area, CompatError, Finding, Severity};

/// The metadata NAME (under `icp:private ` or `icp:public `) that marks a module built for
/// enhanced orthogonal persistence.
pub const EOP_SECTION: &str = "enhanced-orthogonal-persistence";

/// The system exports the IC calls by these exact names.
pub const SYSTEM_EXPORTS: [&str; 7] = [
    "canister_init",
    "canister_pre_upgrade",
    "canister_post_upgrade",
    "canister_heartbeat",
    "canister_global_timer",
    "canister_inspect_message",
    "canister_on_low_wasm_memory",
];

/// How a method is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodMode {
    /// `canister_update <name>`
    Update,
    /// `canister_query <name>`
    Query,
    /// `canister_composite_query <name>`
    CompositeQuery,
}

impl MethodMode {
    /// The export name prefix, with its trailing space.
    pub fn prefix(self) -> &'static str {
        match self {
            MethodMode::Update => "canister_update ",
            MethodMode::Query => "canister_query ",
            MethodMode::CompositeQuery => "canister_composite_query ",
        }
    }

    /// As Candid writes it: `update`, `query`, `composite_query`.
    pub fn word(self) -> &'static str {
        match self {
            MethodMode::Update => "update",
            MethodMode::Query => "query",
            MethodMode::CompositeQuery => "composite_query",
        }
    }

    /// The mode and method name of an export name, if it is a method export.
    pub fn of_export(export: &str) -> Option<(MethodMode, &str)> {
        [
            MethodMode::Update,
            MethodMode::Query,
            MethodMode::CompositeQuery,
        ]
        .into_iter()
        .find_map(|m| export.strip_prefix(m.prefix()).map(|n| (m, n)))
    }
}

/// An exported method.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Method {
    pub name: String,
    pub mode: MethodMode,
}

/// What an import brings in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Func,
    Memory,
    Table,
    Global,
    Tag,
}

/// One import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

/// What the structure checks need to know of a module.
#[derive(Clone, Debug, Default)]
pub struct ModuleInfo {
    /// The `icp:public`/`icp:private` sections.
    pub metadata: Vec<MetadataSection>,
    /// The exported methods (function exports named `canister_update <m>`,
    /// `canister_query <m>`, `canister_composite_query <m>`), in export order.
    pub methods: Vec<Method>,
    /// The exported functions among [`SYSTEM_EXPORTS`] (`canister_init`, ...).
    pub system_exports: BTreeSet<String>,
    /// Every exported function name, as is.
    pub exported_functions: Vec<String>,
    /// Every import, in order.
    pub imports: Vec<Import>,
    /// Whether the module has a memory (imported or defined).
    pub has_memory: bool,
    /// Whether its memory (any, should there be several) is a 64-bit memory.
    pub memory64: bool,
    /// Whether it has the `icp:private enhanced-orthogonal-persistence` section (or public).
    pub eop: bool,
    /// Every custom section name, in order (repeats included).
    pub custom_sections: Vec<String>,
}

impl ModuleInfo {
    /// The method named `name`, whatever its mode (the first, if exported more than once).
    pub fn method(&self, name: &str) -> Option<&Method> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// Whether the module exports the system function `name` (e.g. `canister_pre_upgrade`).
    pub fn has_system_export(&self, name: &str) -> bool {
        self.system_exports.contains(name)
    }
}

fn invalid(e: wasmparser::BinaryReaderError) -> CompatError {
    CompatError::wasm(&e)
}

/// Parses a module (raw or gzipped).
pub fn parse_module(wasm: &[u8]) -> Result<ModuleInfo, CompatError> {
    let wasm = metadata::unpack(wasm)?;
    let wasm: &[u8] = &wasm;
    let mut info = ModuleInfo::default();
    // Structure first: this also rejects trailing garbage and components.
    metadata::sections(wasm)?;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(invalid)?;
                    let kind = match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => ImportKind::Func,
                        TypeRef::Memory(m) => {
                            info.has_memory = true;
                            info.memory64 |= m.memory64;
                            ImportKind::Memory
                        }
                        TypeRef::Table(_) => ImportKind::Table,
                        TypeRef::Global(_) => ImportKind::Global,
                        TypeRef::Tag(_) => ImportKind::Tag,
                    };
                    info.imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    let m = m.map_err(invalid)?;
                    info.has_memory = true;
                    info.memory64 |= m.memory64;
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    if export.kind != ExternalKind::Func {
                        continue;
                    }
                    let name = export.name;
                    info.exported_functions.push(name.to_string());
                    if let Some((mode, method)) = MethodMode::of_export(name) {
                        info.methods.push(Method {
                            name: method.to_string(),
                            mode,
                        });
                    } else if SYSTEM_EXPORTS.contains(&name) {
                        info.system_exports.insert(name.to_string());
                    }
                }
            }
            Payload::CustomSection(reader) => {
                let name = reader.name();
                info.custom_sections.push(name.to_string());
                if let Some((visibility, n)) = metadata::parse_section_name(name) {
                    if n == EOP_SECTION {
                        info.eop = true;
                    }
                    info.metadata.push(MetadataSection {
                        name: n.to_string(),
                        visibility,
                        content: reader.data().to_vec(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

fn finding(
    severity: Severity,
    code: &str,
    path: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding::new(severity, Area::Wasm, code, path, message)
}

/// What a hook's loss means, for the hooks whose removal is worth a warning.
fn system_export_loss(name: &str) -> Option<&'static str> {
    Some(match name {
        "canister_heartbeat" => {
            "the new module has no canister_heartbeat: the periodic work the old one did every \
             round stops"
        }
        "canister_global_timer" => {
            "the new module has no canister_global_timer: timers stop firing (a pending timer \
             expires with nothing to run it)"
        }
        "canister_inspect_message" => {
            "the new module has no canister_inspect_message: ingress messages are no longer \
             filtered before they are accepted, so every update method is open to any caller \
             (and the cycles their messages cost) unless the method checks the caller itself"
        }
        "canister_on_low_wasm_memory" => {
            "the new module has no canister_on_low_wasm_memory: nothing reacts any more when \
             the heap nears wasm_memory_limit"
        }
        _ => return None,
    })
}

/// Structural differences between OLD and NEW that break clients, lose the ability to
/// upgrade, or cannot run. `provides(module, name)`: whether the replica provides an import.
///
/// Codes: `wasm-method-removed`, `wasm-method-mode-changed` (errors), `wasm-method-added`
/// (info), `wasm-pre-upgrade-lost`, `wasm-post-upgrade-lost`, `wasm-system-export-removed`,
/// `wasm-memory64-changed` (warnings), `wasm-eop-changed` (error from EOP to classic, warning
/// the other way), `wasm-import-unavailable` (error).
pub fn check_structure(
    old: &ModuleInfo,
    new: &ModuleInfo,
    provides: &dyn Fn(&str, &str) -> bool,
) -> Vec<Finding> {
    let mut out = Vec::new();

    // Methods, in the old module's export order, then the added ones in the new one's.
    let mut seen = BTreeSet::new();
    for m in &old.methods {
        if !seen.insert(&m.name) {
            continue;
        }
        let path = format!("method `{}`", m.name);
        let new_modes: Vec<MethodMode> = new
            .methods
            .iter()
            .filter(|n| n.name == m.name)
            .map(|n| n.mode)
            .collect();
        let Some(&new_mode) = new_modes.first() else {
            out.push(
                finding(
                    Severity::Error,
                    "wasm-method-removed",
                    path,
                    format!(
                        "the old module exports `{}{}` and the new one does not export `{}` at \
                         all: callers get \"method not found\". A removed method is a breaking \
                         change even when the Candid text hides it",
                        m.mode.prefix(),
                        m.name,
                        m.name
                    ),
                )
                .with_hint(
                    "keep exporting the method (it may reject with a deprecation message) until \
                     no client calls it",
                ),
            );
            continue;
        };
        if !new_modes.contains(&m.mode) {
            let why = match (m.mode, new_mode) {
                (MethodMode::Update, _) => {
                    "its state changes would now be discarded after every call, and callers \
                     that expect a certified (replicated) answer get a query's"
                }
                (_, MethodMode::Update) => {
                    "callers that query it are now rejected, and every call goes through \
                     consensus (slower, and it costs cycles)"
                }
                _ => {
                    "a composite query may call other canisters' queries and can itself only be \
                     called by ingress queries and composite queries, so callers on the other \
                     side of that line break"
                }
            };
            out.push(
                finding(
                    Severity::Error,
                    "wasm-method-mode-changed",
                    path,
                    format!(
                        "changes from {} to {}: {why}",
                        m.mode.word(),
                        new_mode.word()
                    ),
                )
                .with_hint("keep the method's mode; add a new method for the other mode"),
            );
        }
    }
    let mut added = BTreeSet::new();
    for m in &new.methods {
        if old.method(&m.name).is_none() && added.insert(&m.name) {
            out.push(finding(
                Severity::Info,
                "wasm-method-added",
                format!("method `{}`", m.name),
                format!("new {} method `{}`", m.mode.word(), m.name),
            ));
        }
    }

    // Upgrade hooks.
    let old_pre = old.has_system_export("canister_pre_upgrade");
    let new_pre = new.has_system_export("canister_pre_upgrade");
    let old_post = old.has_system_export("canister_post_upgrade");
    let new_post = new.has_system_export("canister_post_upgrade");
    if old_pre && !new_pre {
        out.push(
            finding(
                Severity::Warning,
                "wasm-pre-upgrade-lost",
                "canister_pre_upgrade",
                "the old module exports canister_pre_upgrade and the new one does not: this \
                 upgrade still runs the old hook, but the next upgrade will not serialise the heap \
                 state into stable memory, so whatever then lives only on the heap is lost",
            )
            .with_hint(
                "fine when the new code keeps all its state in stable memory (stable \
                 structures); otherwise keep a pre_upgrade that saves the heap",
            ),
        );
    }
    if old_pre && old_post && !new_post {
        out.push(
            finding(
                Severity::Warning,
                "wasm-post-upgrade-lost",
                "canister_post_upgrade",
                "the old module's canister_pre_upgrade saves its heap state to stable memory \
                 during this upgrade, and the new module has no canister_post_upgrade to read it \
                 back: the new heap starts empty and the saved state is left unread in stable \
                 memory",
            )
            .with_hint(
                "keep a post_upgrade that restores the state, unless the new code reads stable \
                 memory directly",
            ),
        );
    }
    for name in SYSTEM_EXPORTS {
        if old.has_system_export(name) && !new.has_system_export(name) {
            if let Some(message) = system_export_loss(name) {
                out.push(finding(
                    Severity::Warning,
                    "wasm-system-export-removed",
                    name,
                    message,
                ));
            }
        }
    }

    // Persistence.
    match (old.eop, new.eop) {
        (true, false) => out.push(
            finding(
                Severity::Error,
                "wasm-eop-changed",
                EOP_SECTION,
                "the old module uses enhanced orthogonal persistence and the new one does not: \
                 switching from enhanced orthogonal persistence to classic persistence loses the \
                 heap; an upgrade with keep is rejected",
            )
            .with_hint(
                "build the new module with enhanced orthogonal persistence too (moc's default), \
                 or move all state to stable memory first and upgrade with \
                 wasm_memory_persistence = replace",
            ),
        ),
        (false, true) => out.push(finding(
            Severity::Warning,
            "wasm-eop-changed",
            EOP_SECTION,
            "the old module uses classic persistence and the new one enhanced orthogonal \
                 persistence: the heap is replaced, so the state must come through stable \
                 memory (the old pre_upgrade and the new module's migration from it)",
        )),
        _ => {}
    }
    if old.has_memory && new.has_memory && old.memory64 != new.memory64 {
        let (from, to) = if old.memory64 {
            ("memory64", "wasm32")
        } else {
            ("wasm32", "memory64")
        };
        out.push(finding(
            Severity::Warning,
            "wasm-memory64-changed",
            "memory",
            format!(
                "the old module's memory is {from} and the new one's {to}: the heap cannot be \
                 kept across this upgrade (pointers change width), and any state must come \
                 through stable memory"
            ),
        ));
    }

    // Imports the replica cannot provide.
    for import in &new.imports {
        if !provides(&import.module, &import.name) {
            let what = match import.kind {
                ImportKind::Func => "",
                ImportKind::Memory => " (a memory)",
                ImportKind::Table => " (a table)",
                ImportKind::Global => " (a global)",
                ImportKind::Tag => " (a tag)",
            };
            out.push(
                finding(
                    Severity::Error,
                    "wasm-import-unavailable",
                    format!("import {}.{}", import.module, import.name),
                    format!(
                        "drydock (and the IC) cannot provide {}.{}{what}; the module would be \
                         rejected at install",
                        import.module, import.name
                    ),
                )
                .with_hint(
                    "canisters may import only the System API (`ic0`); check the toolchain \
                     (wasm32-unknown-unknown, ic-cdk) and drop dependencies that need WASI or \
                     JavaScript bindings",
                ),
            );
        }
    }
    out
}
