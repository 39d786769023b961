//! The IC's instruction costs, as wasmtime fuel: what each Wasm operator costs, what a page a
//! message dirties costs, and how many stable-memory pages one execution may touch.
//!
//! Source: dfinity/ic `rs/embedders/src/wasm_utils/instrumentation.rs` (`instruction_to_cost`,
//! the `injections` that add 1 per function entry and 100 + 1 per byte for bulk memory
//! operations), `rs/embedders/src/wasmtime_embedder.rs` (the dirty-page charge) and
//! `rs/config/src/embedders.rs` (the stable-memory page limits).
//!
//! # How the IC's rules map onto fuel
//! - Every operator costs what `instruction_to_cost` says; loads and stores cost 2 in a wasm64
//!   module and 1 otherwise, so there is one table per memory width ([`operator_costs`]).
//! - The IC adds 1 on entry to every function; wasmtime's fuel charges every executed Wasm
//!   function 1 of its own, which is the same (`tests/metering.rs`, "an empty body").
//! - Bulk memory and table operations: 100, plus 1 per byte or element (wasmtime's variable
//!   costs).
//! - `memory.grow`, `table.grow`, `data.drop` and `elem.drop` cost 300 on the IC; a fuel cost is
//!   a byte, so they cost 255 here (ARCHITECTURE.md, "Fidelity").
//! - Each 4 KiB heap page an execution dirtied costs 1000 (4000 in a wasm64 module), charged
//!   after the execution ([`heap_dirty_page_cost`]); each stable page a write dirties first
//!   costs 1000, charged by the write.
//!
//! Fuel is charged at the end of a straight-line run of code, the IC's counter at its start:
//! a finished execution counts the same, a trapped one may differ by the rest of one block.

use std::collections::HashMap;

use wasmtime::{OperatorCost, VariableOperatorCost};

use crate::error::HostTrap;

/// What a heap page dirtied by an execution costs, in instructions.
pub const DIRTY_PAGE_COST: u64 = 1_000;
/// The multiplier of [`DIRTY_PAGE_COST`] for heap pages of a wasm64 module.
const WASM64_DIRTY_PAGE_MULTIPLIER: u64 = 4;
/// The stable-memory pages (4 KiB) an execution may touch: 2 GiB for a message, 8 GiB for
/// install and upgrade hooks, 1 GiB for queries (`EntryKind::stable_page_limit` picks one);
/// the same limits for pages written.
pub const STABLE_PAGES_MESSAGE: u64 = (2 << 30) / 4096;
pub const STABLE_PAGES_UPGRADE: u64 = (8 << 30) / 4096;
pub const STABLE_PAGES_QUERY: u64 = (1 << 30) / 4096;

/// The cost of one heap page dirtied by an execution of a wasm32 or wasm64 module.
pub fn heap_dirty_page_cost(is_memory64: bool) -> u64 {
    if is_memory64 {
        DIRTY_PAGE_COST * WASM64_DIRTY_PAGE_MULTIPLIER
    } else {
        DIRTY_PAGE_COST
    }
}

/// The stable-memory pages one execution has read or written, counted once each as the IC
/// counts them (a write also counts as an access), against the execution's limit.
#[derive(Clone, Debug, Default)]
pub struct StablePages {
    /// Page index → bit 0: written, bit 1: read.
    pages: HashMap<u64, u8>,
    accessed: u64,
    limit: u64,
}

const WRITTEN: u8 = 1;
const READ: u8 = 2;

impl StablePages {
    /// No page touched yet; at most `limit` pages may be touched, and `limit` written.
    pub fn new(limit: u64) -> Self {
        StablePages {
            limit,
            ..Default::default()
        }
    }

    /// Pages touched so far.
    pub fn accessed(&self) -> u64 {
        self.accessed
    }

    /// Counts an access of `len` bytes at `offset` (a write when `write`), and returns the
    /// pages it writes for the first time. Refuses it, counting nothing, past the limits.
    pub fn touch(&mut self, offset: u64, len: u64, write: bool) -> Result<u64, HostTrap> {
        if len == 0 {
            return Ok(0);
        }
        let first = offset / 4096;
        let last = offset.saturating_add(len - 1) / 4096;
        let (mut new_access, mut new_write) = (0u64, 0u64);
        for p in first..=last {
            let bits = self.pages.get(&p).copied().unwrap_or(0);
            if bits == 0 {
                new_access += 1;
            }
            if write && bits & WRITTEN == 0 {
                new_write += 1;
            }
        }
        // The IC also limits the pages written, to the same number: a written page is an
        // accessed one, so this check is the one that refuses.
        if self.accessed.saturating_add(new_access) > self.limit {
            return Err(HostTrap::StableAccessedPages);
        }
        let mark = if write { WRITTEN | READ } else { READ };
        for p in first..=last {
            *self.pages.entry(p).or_insert(0) |= mark;
        }
        self.accessed += new_access;
        Ok(new_write)
    }
}

/// Sets the listed operators of `c` to `cost`.
macro_rules! cost {
    ($c:ident, $cost:expr, $($op:ident),+ $(,)?) => {
        $( $c.$op = $cost; )+
    };
}

/// The IC's cost of every Wasm operator, for a module whose memory is wasm64 or not.
pub fn operator_costs(is_memory64: bool) -> OperatorCost {
    // `_ => 1` in `instruction_to_cost`: everything not listed below.
    let mut c = OperatorCost::new();
    for_all_one(&mut c);
    cost!(c, 0, Block, Loop, Else, End);
    // Loads and stores, scalar and SIMD.
    let mem = if is_memory64 { 2 } else { 1 };
    cost!(
        c,
        mem,
        I32Load,
        I64Load,
        F32Load,
        F64Load,
        I32Load8S,
        I32Load8U,
        I32Load16S,
        I32Load16U,
        I64Load8S,
        I64Load8U,
        I64Load16S,
        I64Load16U,
        I64Load32S,
        I64Load32U,
        I32Store,
        I64Store,
        F32Store,
        F64Store,
        I32Store8,
        I32Store16,
        I64Store8,
        I64Store16,
        I64Store32,
        V128Load,
        V128Load8x8S,
        V128Load8x8U,
        V128Load16x4S,
        V128Load16x4U,
        V128Load32x2S,
        V128Load32x2U,
        V128Load8Splat,
        V128Load16Splat,
        V128Load32Splat,
        V128Load64Splat,
        V128Load32Zero,
        V128Load64Zero,
        V128Store,
        V128Load8Lane,
        V128Load16Lane,
        V128Load32Lane,
        V128Load64Lane,
        V128Store8Lane,
        V128Store16Lane,
        V128Store32Lane,
        V128Store64Lane,
    );
    cost!(
        c,
        2,
        F32Add,
        F32Sub,
        F32Mul,
        F32Ceil,
        F32Floor,
        F32Trunc,
        F32Nearest,
        F64Add,
        F64Sub,
        F64Mul,
        F64Ceil,
        F64Floor,
        F64Trunc,
        F64Nearest,
        F32Copysign,
        GlobalGet,
        GlobalSet,
        If,
        Br,
        BrIf,
        BrTable,
    );
    cost!(
        c,
        3,
        F32Div,
        F64Copysign,
        F32Eq,
        F32Ne,
        F32Lt,
        F32Gt,
        F32Le,
        F32Ge,
        F64Eq,
        F64Ne,
        F64Lt,
        F64Gt,
        F64Le,
        F64Ge,
        F32ConvertI32S,
        F32ConvertI64S,
        F64ConvertI32S,
        F64ConvertI64S,
    );
    cost!(c, 3, ReturnCall);
    cost!(c, 5, F64Div, F32Sqrt, TableGet, TableSet, RefIsNull, Call);
    cost!(c, 8, F64Sqrt);
    cost!(
        c,
        10,
        I32DivS,
        I32DivU,
        I32RemS,
        I32RemU,
        I64DivS,
        I64DivU,
        I64RemS,
        I64RemU,
        CallIndirect,
    );
    cost!(
        c,
        16,
        F32ConvertI32U,
        F32ConvertI64U,
        F64ConvertI32U,
        F64ConvertI64U
    );
    cost!(c, 18, F32Min, F32Max, F64Min, F64Max);
    cost!(
        c,
        20,
        I32TruncF32S,
        I32TruncF32U,
        I32TruncF64S,
        I32TruncF64U,
        I64TruncF32S,
        I64TruncF32U,
        I64TruncF64S,
        I64TruncF64U,
        I32TruncSatF32S,
        I32TruncSatF32U,
        I32TruncSatF64S,
        I32TruncSatF64U,
        I64TruncSatF32S,
        I64TruncSatF32U,
        I64TruncSatF64S,
        I64TruncSatF64U,
        MemorySize,
    );
    cost!(c, 60, ReturnCallIndirect);
    cost!(c, 100, TableSize, MemoryFill, MemoryCopy, MemoryInit, TableFill, TableCopy, TableInit);
    cost!(c, 130, RefFunc);
    // 300 on the IC; a fuel cost is a byte.
    cost!(c, 255, MemoryGrow, TableGrow, DataDrop, ElemDrop);
    simd(&mut c);
    c.variable = VariableOperatorCost {
        memory_copy_per_byte: 1,
        memory_fill_per_byte: 1,
        memory_init_per_byte: 1,
        memory_grow_per_page: 0,
        table_copy_per_element: 1,
        table_fill_per_element: 1,
        table_init_per_element: 1,
        table_grow_per_element: 0,
        ..VariableOperatorCost::new()
    };
    c
}

/// wasmtime's defaults are 0 for `nop`, `drop`, `unreachable` and `return`; the IC's are 1.
fn for_all_one(c: &mut OperatorCost) {
    cost!(c, 1, Nop, Drop, Unreachable, Return);
}

/// The SIMD operators that do not cost 1 (`instruction_to_cost`).
fn simd(c: &mut OperatorCost) {
    cost!(
        c,
        2,
        I8x16LtU,
        I16x8LtU,
        I32x4LtU,
        I8x16GtU,
        I16x8GtU,
        I32x4GtU,
        I8x16ShrU,
        I16x8ExtAddPairwiseI8x16U,
        I16x8Shl,
        I16x8ShrS,
        I16x8ShrU,
        I16x8ExtMulHighI8x16S,
        I16x8ExtMulHighI8x16U,
        I32x4Shl,
        I32x4ShrS,
        I32x4ShrU,
        I32x4Mul,
        I32x4ExtMulLowI16x8S,
        I32x4ExtMulHighI16x8S,
        I32x4ExtMulLowI16x8U,
        I32x4ExtMulHighI16x8U,
        I64x2Shl,
        I64x2ShrU,
        F32x4Ceil,
        F32x4Floor,
        F32x4Trunc,
        F32x4Nearest,
        F32x4Abs,
        F32x4Neg,
        F32x4Add,
        F32x4Sub,
        F32x4Mul,
        F64x2Ceil,
        F64x2Floor,
        F64x2Trunc,
        F64x2Nearest,
        F64x2Abs,
        F64x2Neg,
        F64x2Add,
        F64x2Sub,
        F64x2Mul,
        I32x4TruncSatF32x4S,
        I32x4TruncSatF64x2SZero,
    );
    cost!(
        c,
        3,
        I8x16Shuffle,
        I8x16Popcnt,
        I8x16Shl,
        I8x16ShrS,
        I32x4ExtAddPairwiseI16x8U,
        I64x2ShrS,
        I32x4TruncSatF64x2UZero,
    );
    cost!(
        c,
        4,
        I64x2Mul,
        F32x4Min,
        F32x4Max,
        F64x2Min,
        I32x4TruncSatF32x4U,
        F32x4ConvertI32x4U,
    );
    cost!(c, 5, F32x4Sqrt, F64x2Max);
    cost!(c, 10, F32x4Div);
    cost!(c, 12, F64x2Div);
    cost!(c, 14, F64x2Sqrt);
}
