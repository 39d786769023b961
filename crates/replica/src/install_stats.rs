//! What a successful `install_code` measured: each hook's instructions and peak heap against
//! its limits ([`InstallStats`]), for the upgrade and rehearsal reports.

use serde::Serialize;

/// Which module a hook ran in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookModule {
    Old,
    New,
}

/// What one hook (or the start function) of an install or upgrade used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HookStats {
    /// `canister_pre_upgrade`, `start`, `canister_init` or `canister_post_upgrade`.
    pub name: String,
    pub module: HookModule,
    /// Instructions the hook used.
    pub instructions: u64,
    /// The largest Wasm memory during the hook, in bytes.
    pub peak_heap: u64,
    /// The most Wasm memory the hook could have had: the module's hard limit (4 GiB for
    /// wasm32, 6 GiB for wasm64), or the canister's `wasm_memory_limit` where it applies
    /// (init and post_upgrade; pre_upgrade is exempt).
    pub heap_limit: u64,
}

/// The figures of one successful install or upgrade, hook by hook: what the headroom report
/// compares with the IC's limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstallStats {
    /// `install`, `reinstall` or `upgrade`.
    pub mode: String,
    pub hooks: Vec<HookStats>,
    /// The instruction budget all the hooks shared (300 B on the IC).
    pub instruction_limit: u64,
    /// Stable memory before and after, in bytes.
    pub stable_before: u64,
    pub stable_after: u64,
    /// The Wasm memory after, in bytes.
    pub heap_after: u64,
}

impl InstallStats {
    /// Instructions used by all hooks together.
    pub fn instructions(&self) -> u64 {
        self.hooks.iter().map(|h| h.instructions).sum()
    }
}
