//! The per-message context a canister sees through the System API: what the replica hands in
//! ([`MessageEnv`]), what the message may change ([`SystemApiState`]) and the limits in force
//! ([`ExecLimits`]). Owned here so that the System API and the instance agree on one shape.

use crate::error::HostTrap;
use crate::stable::StableMemory;

/// Which kind of entry point runs. It decides which `ic0` functions are available
/// (the spec's availability table: I, G, U, RQ, NRQ, CQ, Ry, Rt, C, s, T, F).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// The Wasm `start` function (spec "s").
    Start,
    /// `canister_init` (spec "I").
    Init,
    /// `canister_pre_upgrade` (spec "G").
    PreUpgrade,
    /// `canister_post_upgrade` (spec "I").
    PostUpgrade,
    /// `canister_update <name>` (spec "U").
    Update,
    /// `canister_query <name>` run as an update, i.e. replicated (spec "RQ").
    ReplicatedQuery,
    /// `canister_query <name>` run as a query (spec "NRQ").
    Query,
    /// `canister_composite_query <name>` (spec "CQ").
    CompositeQuery,
    /// A reply callback (spec "Ry").
    ReplyCallback,
    /// A reject callback (spec "Rt").
    RejectCallback,
    /// A cleanup callback (spec "C").
    Cleanup,
    /// `canister_heartbeat` or `canister_global_timer` (spec "T").
    SystemTask,
    /// `canister_inspect_message` (spec "F").
    InspectMessage,
}

impl EntryKind {
    /// Whether changes made by this entry point persist when it succeeds.
    pub fn is_replicated(self) -> bool {
        !matches!(
            self,
            EntryKind::Query | EntryKind::CompositeQuery | EntryKind::InspectMessage
        )
    }

    /// The IC's limit on the stable-memory pages an execution of this kind may touch.
    pub fn stable_page_limit(self) -> u64 {
        use crate::metering::{STABLE_PAGES_MESSAGE, STABLE_PAGES_QUERY, STABLE_PAGES_UPGRADE};
        match self {
            EntryKind::Start | EntryKind::Init | EntryKind::PostUpgrade | EntryKind::PreUpgrade => {
                STABLE_PAGES_UPGRADE
            }
            EntryKind::ReplicatedQuery
            | EntryKind::Query
            | EntryKind::CompositeQuery
            | EntryKind::InspectMessage => STABLE_PAGES_QUERY,
            EntryKind::Update
            | EntryKind::ReplyCallback
            | EntryKind::RejectCallback
            | EntryKind::Cleanup
            | EntryKind::SystemTask => STABLE_PAGES_MESSAGE,
        }
    }
}

/// The facts the replica supplies for one message. Principals are raw bytes.
#[derive(Clone, Debug, Default)]
pub struct MessageEnv {
    /// The exported method name (without the `canister_update ` prefix); empty for hooks.
    pub method_name: String,
    /// The argument blob (`msg_arg_data_*`).
    pub arg: Vec<u8>,
    /// The caller (`msg_caller_*`).
    pub caller: Vec<u8>,
    /// What the request's `sender_info` attested about the caller (`msg_caller_info_data_*`),
    /// and the canister that signed it (`msg_caller_info_signer_*`); both empty without.
    pub caller_info_data: Vec<u8>,
    pub caller_info_signer: Vec<u8>,
    /// This canister's id (`canister_self_*`).
    pub canister_id: Vec<u8>,
    /// The controllers, for `is_controller`.
    pub controllers: Vec<Vec<u8>>,
    /// Nanoseconds since the epoch (`time`).
    pub time_nanos: u64,
    /// The canister's cycle balance (`canister_cycle_balance*`).
    pub cycles_balance: u128,
    /// The balance the canister must keep: cycles attached to calls, and calls' fees, may
    /// not take it below this (its freezing threshold; set for replicated executions).
    pub freezing_threshold: u128,
    /// Cycles attached to the message (`msg_cycles_available*`).
    pub cycles_available: u128,
    /// Cycles refunded with a response (`msg_cycles_refunded*`).
    pub cycles_refunded: u128,
    /// The canister version (`canister_version`).
    pub canister_version: u64,
    /// 1 running, 2 stopping, 3 stopped (`canister_status`).
    pub canister_status: u32,
    /// A certificate for `data_certificate_*` in non-replicated queries.
    pub data_certificate: Option<Vec<u8>>,
    /// For reject callbacks: the reject code and message (`msg_reject_code`, `msg_reject_msg_*`).
    pub reject: Option<(u32, String)>,
    /// The id of the subnet the canister lives on, for `subnet_self_*`.
    pub subnet_id: Vec<u8>,
    /// The root key, for `root_key_*`.
    pub root_key: Vec<u8>,
    /// The canister's environment variables, sorted by name (`env_var_*`).
    pub env_vars: Vec<(String, String)>,
    /// The call's deadline in nanoseconds, 0 for a guaranteed-response call (`msg_deadline`).
    pub deadline: u64,
    /// Whether the call context this message runs in was already replied to (a callback of a
    /// context that replied before its calls came back may not reply again).
    pub responded: bool,
    /// Instructions that earlier executions of this call context used (callbacks), added to
    /// this execution's by `performance_counter(1)`.
    pub call_context_instructions: u64,
}

/// A table entry and the argument to call it with: a callback of `call_new`/`call_on_cleanup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Closure {
    /// An index into the module's function table.
    pub fun: u64,
    /// The argument the function is called with.
    pub env: u64,
}

/// A call a canister made: `call_new`, then data, cycles and options, then `call_perform`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OutgoingCall {
    /// The callee's principal, raw bytes as the canister gave them.
    pub callee: Vec<u8>,
    pub method: String,
    pub payload: Vec<u8>,
    /// Cycles attached (`call_cycles_add128`), taken from the balance when performed.
    pub cycles: u128,
    pub reply: Closure,
    pub reject: Closure,
    pub cleanup: Option<Closure>,
    /// `call_with_best_effort_response`: the timeout in seconds (a bounded-wait call).
    pub timeout_seconds: Option<u32>,
}

/// The instruction and memory limits of one execution. [`ExecLimits::ic`] gives the IC's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecLimits {
    /// Instructions this execution may use.
    pub instructions: u64,
    /// The most Wasm memory (bytes) a wasm32 module may have: 4 GiB on the IC.
    pub heap32_max: u64,
    /// The most Wasm memory (bytes) a wasm64 module may have: 6 GiB on the IC.
    pub heap64_max: u64,
    /// The most stable memory (bytes): 500 GiB on the IC.
    pub stable_max: u64,
    /// The stable-memory pages an execution may touch, and write: `None` for the IC's limit
    /// of its kind ([`EntryKind::stable_page_limit`]).
    pub stable_pages_max: Option<u64>,
    /// The canister's `wasm_memory_limit` setting, enforced when [`Self::enforce_wasm_memory_limit`].
    pub wasm_memory_limit: Option<u64>,
    /// Updates, init and post_upgrade enforce the limit; queries, callbacks, timers and
    /// pre_upgrade are exempt.
    pub enforce_wasm_memory_limit: bool,
}

pub const GIB: u64 = 1 << 30;

impl ExecLimits {
    /// The IC's limits for an execution with the given instruction budget.
    pub fn ic(instructions: u64) -> Self {
        ExecLimits {
            instructions,
            heap32_max: 4 * GIB,
            heap64_max: 6 * GIB,
            stable_max: 500 * GIB,
            stable_pages_max: None,
            wasm_memory_limit: None,
            enforce_wasm_memory_limit: false,
        }
    }
}

/// How a message ended, as the System API saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `msg_reply` was called with these bytes.
    Reply(Vec<u8>),
    /// `msg_reject` was called with this message (reject code 4, CANISTER_REJECT).
    Reject(String),
    /// The entry point returned without replying.
    NoResponse,
}

/// The System API's mutable view of one message: inputs, the response being built and the
/// system state the message may change. The instance reads the changes out after the run.
#[derive(Debug)]
pub struct SystemApiState {
    pub kind: EntryKind,
    pub env: MessageEnv,
    /// Bytes appended by `msg_reply_data_append`.
    pub reply_buf: Vec<u8>,
    /// Set once `msg_reply` or `msg_reject` has been called.
    pub response: Option<Outcome>,
    /// Certified data (`certified_data_set`); starts as the canister's current value.
    pub certified_data: Vec<u8>,
    /// Global timer deadline in nanoseconds, 0 = inactive (`global_timer_set`).
    pub global_timer: u64,
    /// Set by `accept_message` in `canister_inspect_message`.
    pub accepted: bool,
    /// Lines from `debug_print`.
    pub debug_log: Vec<String>,
    /// Cycles accepted by `msg_cycles_accept*`.
    pub cycles_accepted: u128,
    /// Instruction budget of this execution, to compute `performance_counter`.
    pub instruction_limit: u64,
    /// The stable-memory pages this execution has touched and written.
    pub stable_pages: crate::metering::StablePages,
    /// The limits in force.
    pub limits: ExecLimits,
    /// The call being assembled (`call_new` … `call_perform`).
    pub building: Option<OutgoingCall>,
    /// The calls performed by this message, in order.
    pub calls: Vec<OutgoingCall>,
    /// Cycles attached to performed calls (taken from the balance).
    pub cycles_sent: u128,
    /// The fees of performed calls, taken from the balance in advance (`fees::call`): the
    /// request, the largest response and the execution of its callback.
    pub call_fees_prepaid: u128,
}

impl SystemApiState {
    pub fn new(
        kind: EntryKind,
        env: MessageEnv,
        certified_data: Vec<u8>,
        global_timer: u64,
        limits: ExecLimits,
    ) -> Self {
        SystemApiState {
            kind,
            env,
            reply_buf: Vec::new(),
            response: None,
            certified_data,
            global_timer,
            accepted: false,
            debug_log: Vec::new(),
            cycles_accepted: 0,
            instruction_limit: limits.instructions,
            stable_pages: crate::metering::StablePages::new(
                limits
                    .stable_pages_max
                    .unwrap_or_else(|| kind.stable_page_limit()),
            ),
            limits,
            building: None,
            calls: Vec::new(),
            cycles_sent: 0,
            call_fees_prepaid: 0,
        }
    }
}

/// The data of a wasmtime `Store`: everything host functions can reach.
pub struct StoreData {
    /// The message being executed; `None` between messages (any `ic0` call then traps).
    pub api: Option<SystemApiState>,
    /// The canister's stable memory.
    pub stable: StableMemory,
    /// Enforces heap limits on `memory.grow`.
    pub limiter: HeapLimiter,
}

impl StoreData {
    /// Store data with no message, an empty stable memory and the IC's limits.
    pub fn empty() -> Self {
        StoreData {
            api: None,
            stable: StableMemory::new(&crate::memory::MemoryBacking::default(), 0)
                .unwrap_or_else(|_| unreachable_stable()),
            limiter: HeapLimiter {
                limits: ExecLimits::ic(0),
                is_memory64: false,
                peak: 0,
                refused: None,
            },
        }
    }
}

#[cold]
fn unreachable_stable() -> StableMemory {
    // Reserving one page of address space only fails when the process is out of address space.
    std::process::abort()
}

/// The most elements a table may have.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Enforces the heap limits on `memory.grow`: the Wasm32/Wasm64 maximum (growth fails, as on
/// the IC) and the `wasm_memory_limit` setting (the message traps, for the entry points that
/// enforce it).
#[derive(Debug, Clone)]
pub struct HeapLimiter {
    pub limits: ExecLimits,
    pub is_memory64: bool,
    /// The largest heap size seen in this message.
    pub peak: u64,
    /// Why the last growth was refused, if it was: at instantiation this makes a failure the
    /// module's fault (it asks for more than allowed), not drydock's.
    pub refused: Option<String>,
}

impl wasmtime::ResourceLimiter for HeapLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        let max = if self.is_memory64 {
            self.limits.heap64_max
        } else {
            self.limits.heap32_max
        };
        if desired > max {
            self.refused = Some(format!(
                "a Wasm memory of {desired} bytes is more than the maximum of {max} bytes"
            ));
            return Ok(false);
        }
        if self.limits.enforce_wasm_memory_limit {
            if let Some(limit) = self.limits.wasm_memory_limit {
                if limit > 0 && desired > limit {
                    self.refused = Some(format!(
                        "its initial Wasm memory of {desired} bytes is more than the canister's wasm_memory_limit of {limit} bytes (raise the limit with `update_settings`, or 0 for none)"
                    ));
                    return Err(wasmtime::Error::new(HostTrap::WasmMemoryLimit {
                        limit,
                        peak: desired,
                    }));
                }
            }
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.refused = Some(format!(
                "a table of {desired} elements is more than the maximum of {MAX_TABLE_ELEMENTS}"
            ));
            return Ok(false);
        }
        Ok(true)
    }
}
