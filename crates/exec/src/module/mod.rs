//! Module intake: turns the bytes a user installs into a [`PreparedModule`] ready to compile.
//!
//! [`prepare`] does what the IC does when `install_code` hands it a blob, in this order:
//!
//! 1. hashes the blob exactly as given (the IC's `module_hash` is of the installed bytes, so a
//!    gzipped module hashes as gzip);
//! 2. refuses blobs over 100 MiB, and gunzips blobs starting with `1f 8b 08`, stopping at 100 MiB
//!    of output;
//! 3. checks the `\0asm` magic, refuses code sections over 10 MiB and second memories, and
//!    validates the module with the Wasm features the IC allows ([`wasm_features`]);
//! 4. applies the structural rules of the interface spec, "Canister module format" and
//!    "WebAssembly module requirements" (`canister-interface.md`): one memory at most, imports
//!    only functions from `ic0`, the `canister_*` export names and their `() -> ()` type, the
//!    `icp:public`/`icp:private` custom sections (16 at most, 1 MiB in all), and the "may
//!    reject" limits on functions, globals and methods;
//! 5. instruments the module for the embedder: the memory is also exported as
//!    [`MEMORY_EXPORT`], every mutable global as `__drydock_global_<index>`
//!    ([`global_export_name`]), and the start function, if any, is taken out of the start section
//!    and exported as [`START_EXPORT`] so that only install and upgrade run it. Nothing else
//!    changes: every other section is copied byte for byte, so function, global and table
//!    indices stay the same.
//!
//! It never panics on any input and allocates at most about the 100 MiB the IC allows.

mod instrument;
mod intake;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sha2::{Digest, Sha256};

/// The largest module the IC installs, compressed or not, and the most gunzip may produce.
pub const MAX_WASM_MODULE_BYTES: u64 = 100 * 1024 * 1024;
/// The largest code section the IC accepts (the whole section: its function bodies and their
/// size prefixes, as the IC measures it).
pub const MAX_CODE_SECTION_BYTES: u64 = 10 * 1024 * 1024;
/// At most this many `icp:public`/`icp:private` custom sections.
pub const MAX_ICP_CUSTOM_SECTIONS: usize = 16;
/// At most this many bytes in all `icp:` custom sections: the `<name>` of each plus its content.
pub const MAX_ICP_CUSTOM_SECTIONS_BYTES: u64 = 1024 * 1024;
/// At most this many functions defined in the module.
pub const MAX_FUNCTIONS: usize = 50_000;
/// At most this many globals defined in the module.
pub const MAX_GLOBALS: usize = 1_000;
/// At most this many `canister_update`/`canister_query`/`canister_composite_query` exports.
pub const MAX_METHODS: usize = 1_000;
/// At most this many bytes of method names (the `<name>` parts) in all.
pub const MAX_METHOD_NAMES_BYTES: usize = 20_000;

/// The extra export name of the module's memory.
pub const MEMORY_EXPORT: &str = "__drydock_memory";
/// The export name of the function that was the start function.
pub const START_EXPORT: &str = "__drydock_start";
/// The name under which instrumentation exports table 0, through which callbacks run.
pub const TABLE_EXPORT: &str = "__drydock_table";
/// The prefix of the export names of the mutable globals; see [`global_export_name`].
pub const GLOBAL_EXPORT_PREFIX: &str = "__drydock_global_";
/// Export names with this prefix are drydock's; a module may not export them itself.
pub const RESERVED_EXPORT_PREFIX: &str = "__drydock_";
/// The custom section (`icp:private <this>`, as moc emits it) that marks enhanced orthogonal
/// persistence. The IC looks the name up whatever the visibility.
pub const EOP_SECTION: &str = "enhanced-orthogonal-persistence";

/// The export name under which the instrumented module exports the mutable global `index`.
pub fn global_export_name(index: u32) -> String {
    format!("{GLOBAL_EXPORT_PREFIX}{index}")
}

/// The Wasm features a canister module may use: Wasm 2.0 (mutable globals, sign extension,
/// saturating float-to-int, multi-value, bulk memory, reference types, SIMD) and memory64
/// (with table64). Not threads, relaxed SIMD, tail calls, exceptions, GC, extended-const or the
/// component model, nor multi-memory (a canister has at most one memory).
pub fn wasm_features() -> wasmparser::WasmFeatures {
    use wasmparser::WasmFeatures as F;
    F::WASM2 | F::MEMORY64
}

/// The methods and hooks a module exports.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct ExportInfo {
    /// `<name>` of every `canister_update <name>`.
    pub updates: BTreeSet<String>,
    /// `<name>` of every `canister_query <name>`.
    pub queries: BTreeSet<String>,
    /// `<name>` of every `canister_composite_query <name>`.
    pub composite_queries: BTreeSet<String>,
    pub init: bool,
    pub pre_upgrade: bool,
    pub post_upgrade: bool,
    pub heartbeat: bool,
    pub global_timer: bool,
    pub inspect_message: bool,
    pub on_low_wasm_memory: bool,
}

/// A module that passed intake, with what the embedder needs to know about it.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedModule {
    /// sha256 of the bytes as installed (before gunzip).
    pub module_hash: [u8; 32],
    /// The length of the bytes as installed (before gunzip).
    pub installed_size: u64,
    /// The decompressed and instrumented module, ready for wasmtime.
    pub wasm: Vec<u8>,
    /// Its memory (if any) is 64-bit.
    pub is_memory64: bool,
    /// It defines a memory.
    pub has_memory: bool,
    /// It has the custom section `icp:private enhanced-orthogonal-persistence` (or `icp:public`).
    pub is_eop: bool,
    pub exports: ExportInfo,
    /// Every `icp:public X`/`icp:private X` section, keyed by the full section name.
    pub custom_sections: BTreeMap<String, Vec<u8>>,
    /// `(module, name)` of every import, in order; the module is always `ic0`.
    pub imports: Vec<(String, String)>,
    /// Indices of the mutable globals, each exported as `__drydock_global_<index>`.
    pub mutable_globals: Vec<u32>,
    /// It had a start function, now exported as [`START_EXPORT`].
    pub has_start: bool,
    /// Total size of the active data segments.
    pub data_segments_bytes: u64,
}

impl PreparedModule {
    /// The metadata section `name` (e.g. `candid:service`): whether it is public, and its bytes.
    pub fn metadata(&self, name: &str) -> Option<(bool, &[u8])> {
        if let Some(bytes) = self.custom_sections.get(&format!("icp:public {name}")) {
            return Some((true, bytes));
        }
        self.custom_sections
            .get(&format!("icp:private {name}"))
            .map(|bytes| (false, bytes.as_slice()))
    }

    /// The module hash as lowercase hex.
    pub fn module_hash_hex(&self) -> String {
        hex::encode(self.module_hash)
    }
}

impl fmt::Debug for PreparedModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedModule")
            .field("module_hash", &hex::encode(self.module_hash))
            .field("wasm", &format_args!("<{} bytes>", self.wasm.len()))
            .field("is_memory64", &self.is_memory64)
            .field("has_memory", &self.has_memory)
            .field("is_eop", &self.is_eop)
            .field("exports", &self.exports)
            .field(
                "custom_sections",
                &self
                    .custom_sections
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.len()))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("imports", &self.imports)
            .field("mutable_globals", &self.mutable_globals)
            .field("has_start", &self.has_start)
            .field("data_segments_bytes", &self.data_segments_bytes)
            .finish()
    }
}

/// Why a module was refused at intake. Each message names the fact and, where there is one,
/// the way out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    #[error(
        "Wasm module is {size} bytes, over the IC's limit of {limit} bytes (100 MiB); \
         shrink it with `ic-wasm shrink` or gzip it"
    )]
    TooLarge { size: u64, limit: u64 },

    #[error(
        "gzipped Wasm module decompresses to more than the IC's limit of {limit} bytes (100 MiB); \
         shrink the module with `ic-wasm shrink` before compressing it"
    )]
    DecompressedTooLarge { limit: u64 },

    #[error("Wasm module starts with the gzip magic (1f 8b 08) but does not gunzip: {0}")]
    Gzip(String),

    #[error("{0}")]
    NotWasm(String),

    #[error("invalid Wasm module: {0}")]
    Invalid(String),

    #[error(
        "Wasm module's code section is {size} bytes, over the IC's limit of {limit} bytes \
         (10 MiB); shrink it with `ic-wasm shrink` or an optimizing build (`opt-level = \"z\"`, \
         `wasm-opt -Oz`)"
    )]
    CodeSectionTooLarge { size: u64, limit: u64 },

    #[error("Wasm module declares {count} memories; a canister may declare at most one memory")]
    TooManyMemories { count: u64 },

    #[error("Wasm module defines {count} functions, over the IC's limit of {limit}")]
    TooManyFunctions { count: u64, limit: u64 },

    #[error("Wasm module defines {count} globals, over the IC's limit of {limit}")]
    TooManyGlobals { count: u64, limit: u64 },

    #[error(
        "mutable global {index} has type {ty}; the IC saves mutable globals across messages and \
         accepts only number-typed ones (i32, i64, f32, f64, v128)"
    )]
    UnsupportedGlobal { index: u32, ty: String },

    #[error(
        "Wasm module imports `{module}.{name}`, but a canister may import only from `ic0` \
         (the System API); a module importing from `env`, `wasi_snapshot_preview1` or \
         `__wbindgen_*` was built for another host: build for wasm32-unknown-unknown with \
         ic-cdk, or run `wasi2ic` on a WASI module"
    )]
    ForeignImport { module: String, name: String },

    #[error(
        "Wasm module imports the {kind} `{module}.{name}`; a canister may import only \
         functions (from `ic0`): define the {kind} in the module instead"
    )]
    NonFunctionImport {
        module: String,
        name: String,
        kind: &'static str,
    },

    #[error(
        "export `{export}` has type {found}, but the IC requires `() -> ()` for \
         canister_init, canister_pre_upgrade, canister_post_upgrade, canister_heartbeat, \
         canister_global_timer, canister_inspect_message, canister_on_low_wasm_memory and \
         every canister_update/canister_query/canister_composite_query method"
    )]
    InvalidExportSignature { export: String, found: String },

    #[error(
        "method `{method}` is exported both as {first} and as {second}; a method name may be \
         exported as only one of canister_update, canister_query and canister_composite_query"
    )]
    DuplicateMethod {
        method: String,
        first: &'static str,
        second: &'static str,
    },

    #[error(
        "export `{export}`: the IC refuses exported functions named `canister_*` other than \
         canister_init, canister_pre_upgrade, canister_post_upgrade, canister_heartbeat, \
         canister_global_timer, canister_inspect_message, canister_on_low_wasm_memory and \
         `canister_update <name>`, `canister_query <name>`, `canister_composite_query <name>` \
         (exactly one space before <name>); rename the function"
    )]
    UnknownCanisterExport { export: String },

    #[error(
        "export `{export}` uses a name reserved by the IC or by drydock (`__drydock_*`, \
         `canister counter_instructions`); rename it"
    )]
    ReservedExport { export: String },

    #[error(
        "Wasm module exports {count} methods, over the IC's limit of {limit} \
         (canister_update, canister_query and canister_composite_query together)"
    )]
    TooManyMethods { count: u64, limit: u64 },

    #[error(
        "the method names of the Wasm module are {total} bytes in all, over the IC's limit of \
         {limit} bytes"
    )]
    MethodNamesTooLong { total: u64, limit: u64 },

    #[error(
        "custom section `{name}`: names starting with `icp:` are reserved for canister metadata \
         and must start with `icp:public ` or `icp:private ` (with the space); rename or remove \
         it (`ic-wasm metadata`)"
    )]
    InvalidCustomSectionName { name: String },

    #[error(
        "metadata `{name}` is declared more than once (custom sections `icp:public {name}` / \
         `icp:private {name}`); keep one of them"
    )]
    DuplicateCustomSection { name: String },

    #[error(
        "Wasm module has {count} `icp:` custom sections, over the IC's limit of {limit}; \
         remove some with `ic-wasm metadata`"
    )]
    TooManyCustomSections { count: u64, limit: u64 },

    #[error(
        "the `icp:` custom sections of the Wasm module are {size} bytes in all (names without \
         the `icp:public `/`icp:private ` prefix plus contents), over the IC's limit of {limit} \
         bytes (1 MiB)"
    )]
    CustomSectionsTooLarge { size: u64, limit: u64 },

    /// Re-encoding the validated module failed: a drydock bug, not the module's fault.
    #[error("drydock failed to instrument the Wasm module (a drydock bug): {0}")]
    Instrumentation(String),
}

/// Turns installed bytes into a module ready for wasmtime; see the module documentation.
pub fn prepare(bytes: &[u8]) -> Result<PreparedModule, ModuleError> {
    let module_hash: [u8; 32] = Sha256::digest(bytes).into();
    let wasm = intake::unpack(bytes)?;
    intake::check_header(&wasm, intake::is_gzip(bytes))?;
    intake::precheck(&wasm)?;
    wasmparser::Validator::new_with_features(wasm_features())
        .validate_all(&wasm)
        .map_err(|e| ModuleError::Invalid(e.to_string()))?;
    let facts = rules::scan(&wasm)?;
    let instrumented = instrument::instrument(&wasm, &facts)?;

    let is_eop = facts
        .custom_sections
        .contains_key(&format!("icp:private {EOP_SECTION}"))
        || facts
            .custom_sections
            .contains_key(&format!("icp:public {EOP_SECTION}"));
    Ok(PreparedModule {
        module_hash,
        installed_size: bytes.len() as u64,
        wasm: instrumented,
        is_memory64: facts.memory64 == Some(true),
        has_memory: facts.memory64.is_some(),
        is_eop,
        exports: facts.exports,
        custom_sections: facts.custom_sections,
        imports: facts.imports,
        mutable_globals: facts.mutable_globals,
        has_start: facts.start.is_some(),
        data_segments_bytes: facts.data_segments_bytes,
    })
}
