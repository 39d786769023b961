//! The hotfix layout check: may NEW replace OLD while the heap, globals and stable memory are
//! kept and no hook runs?
//!
//! # Where the rules come from
//!
//! A hotfix swaps the code under a live instance: the Wasm memory (the heap), the globals and
//! stable memory stay as the old module left them, and neither `canister_pre_upgrade` nor
//! `canister_post_upgrade` runs. The new code then reads a heap that the old code built, so
//! everything that heap depends on must be the same in both modules:
//!
//! - **Data segments** were applied to the heap when the old module was instantiated and are
//!   not applied again. The heap's static data (string literals, constants, vtables, panic
//!   locations) is the old module's; new code that expects its own statics at other addresses,
//!   or other bytes at the same addresses, reads the wrong data. rustc/LLVM may move every
//!   static when one changes (a longer string, a panic message whose line number moved), so
//!   *any* difference in a data segment (bytes, offset, count, active/passive) is refused.
//! - **Pointers in the heap** point into static data and, for function pointers (`dyn Trait`
//!   vtables, callbacks, closures), into the function table *by index*. So the tables (element
//!   type, limits) and the element segments that fill them (kind, table, offset and the very
//!   function indices) must be identical.
//! - **Function indices** count imported functions first. If the number of imported functions
//!   changes, every defined function's index shifts and every table entry, callback index
//!   (`ic0.call_new`'s reply/reject functions) and heap function pointer refers to another
//!   function; so the imported functions must be the same, in the same order. The imports of
//!   memories, tables and globals must be the same too.
//! - **Globals** are kept, not re-initialised: `__stack_pointer`, the heap base and the like
//!   hold the old module's values, so the new module must declare the same globals (types,
//!   mutability) with the same constant initialisers (a different `__stack_pointer` initial
//!   value means a different stack and static layout).
//! - **Memories** (count, 32/64-bit index type, initial and maximum pages, shared) must be the
//!   same: the initial size reflects where static data and the stack end.
//!
//! The code section, function types and the number of defined functions may differ: that is
//! the point of a hotfix. But note what the check then cannot see: an element segment that
//! keeps the same function *index* does not prove the index names the same *function* (with
//! the same meaning) in the new code. A function table entry, or an outstanding call's
//! callback index, kept stable but pointing at different code is the programmer's
//! responsibility.
//!
//! Enhanced orthogonal persistence (Motoko's `wasm_memory_persistence = keep`) is a different
//! mechanism: the IC keeps the heap across an upgrade that does run the hooks, and the Motoko
//! runtime checks its own memory compatibility (trapping with "Memory-incompatible program
//! upgrade"). That relies on the compiler's check, not on this one.
//!
//! # What it cannot guarantee
//!
//! - The *semantic* layout of heap data structures: a struct or enum whose layout changed in
//!   code (a field added, reordered, a different type) with unchanged data segments passes this
//!   check and then misreads every live value of that type.
//! - The allocator's state: the new code must use the same allocator, with the same metadata
//!   layout, as the old one (the allocator's free lists are on the heap).
//! - Anything code computes and caches on the heap (hash seeds, lazily initialised statics)
//!   with assumptions the new code no longer shares.
//!
//! - The start function and exports are not compared: whether a start function runs during a
//!   hotfix is up to the replica, and the exports are the [`crate::wasm`] checks' business.
//!
//! So a passing check means "not obviously unsafe", for a fix that touches only code paths and
//! no types or statics.

use wasmparser::{
    ConstExpr, DataKind, ElementItems, ElementKind, GlobalType, MemoryType, Operator, Parser,
    Payload, TableInit, TableType, TypeRef,
};

use crate::{Area, CompatError, Finding, Severity};

fn invalid(e: wasmparser::BinaryReaderError) -> CompatError {
    CompatError::wasm(&e)
}

/// The parts of a module a live heap depends on.
#[derive(Default)]
struct Layout<'a> {
    /// (module, name) of each imported function, in order.
    func_imports: Vec<(&'a str, &'a str)>,
    /// Imports of memories, tables, globals and tags, in order.
    other_imports: Vec<(&'a str, &'a str, TypeRef)>,
    imported_globals: u32,
    imported_tables: u32,
    imported_memories: u32,
    memories: Vec<MemoryType>,
    tables: Vec<(TableType, Option<String>)>,
    globals: Vec<(GlobalType, String)>,
    data: Vec<DataSeg<'a>>,
    /// The active and passive element segments, with their index in the module.
    elements: Vec<(usize, ElemSeg)>,
}

struct DataSeg<'a> {
    /// For an active segment: memory index, offset expression and (when the expression is a
    /// plain constant) the address it places the segment at.
    active: Option<(u32, String, Option<u64>)>,
    bytes: &'a [u8],
}

#[derive(PartialEq)]
struct ElemSeg {
    /// `None` for a passive segment; else table index and offset expression.
    active: Option<(u32, String)>,
    items: Vec<ElemItem>,
}

#[derive(PartialEq)]
enum ElemItem {
    Func(u32),
    Expr(String),
}

impl std::fmt::Display for ElemItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElemItem::Func(i) => write!(f, "function {i}"),
            ElemItem::Expr(e) => write!(f, "`{e}`"),
        }
    }
}

/// A constant expression as WAT-like text, e.g. `i32.const 1048576`.
fn expr_text(expr: &ConstExpr<'_>) -> Result<String, CompatError> {
    let mut reader = expr.get_operators_reader();
    let mut parts = Vec::new();
    while !reader.eof() {
        let op = reader.read().map_err(invalid)?;
        parts.push(match op {
            Operator::End => break,
            Operator::I32Const { value } => format!("i32.const {value}"),
            Operator::I64Const { value } => format!("i64.const {value}"),
            Operator::F32Const { value } => format!("f32.const {}", f32::from_bits(value.bits())),
            Operator::F64Const { value } => format!("f64.const {}", f64::from_bits(value.bits())),
            Operator::GlobalGet { global_index } => format!("global.get {global_index}"),
            Operator::RefFunc { function_index } => format!("ref.func {function_index}"),
            Operator::RefNull { hty } => format!("ref.null {hty:?}"),
            Operator::I32Add => "i32.add".to_string(),
            Operator::I32Sub => "i32.sub".to_string(),
            Operator::I32Mul => "i32.mul".to_string(),
            Operator::I64Add => "i64.add".to_string(),
            Operator::I64Sub => "i64.sub".to_string(),
            Operator::I64Mul => "i64.mul".to_string(),
            other => format!("{other:?}"),
        });
    }
    Ok(parts.join(" "))
}

/// The address a constant offset expression denotes.
fn const_address(expr: &ConstExpr<'_>) -> Option<u64> {
    let mut reader = expr.get_operators_reader();
    let value = match reader.read().ok()? {
        Operator::I32Const { value } => u64::from(value as u32),
        Operator::I64Const { value } => value as u64,
        _ => return None,
    };
    match reader.read().ok()? {
        Operator::End => Some(value),
        _ => None,
    }
}

fn parse(wasm: &[u8]) -> Result<Layout<'_>, CompatError> {
    crate::metadata::sections(wasm)?;
    let mut l = Layout::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(invalid)?;
                    match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                            l.func_imports.push((import.module, import.name));
                            continue;
                        }
                        TypeRef::Global(_) => l.imported_globals += 1,
                        TypeRef::Table(_) => l.imported_tables += 1,
                        TypeRef::Memory(_) => l.imported_memories += 1,
                        TypeRef::Tag(_) => {}
                    }
                    l.other_imports
                        .push((import.module, import.name, import.ty));
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    l.memories.push(m.map_err(invalid)?);
                }
            }
            Payload::TableSection(reader) => {
                for t in reader {
                    let t = t.map_err(invalid)?;
                    let init = match &t.init {
                        TableInit::RefNull => None,
                        TableInit::Expr(e) => Some(expr_text(e)?),
                    };
                    l.tables.push((t.ty, init));
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    let g = g.map_err(invalid)?;
                    l.globals.push((g.ty, expr_text(&g.init_expr)?));
                }
            }
            Payload::DataSection(reader) => {
                for d in reader {
                    let d = d.map_err(invalid)?;
                    let active = match &d.kind {
                        DataKind::Passive => None,
                        DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => Some((
                            *memory_index,
                            expr_text(offset_expr)?,
                            const_address(offset_expr),
                        )),
                    };
                    l.data.push(DataSeg {
                        active,
                        bytes: d.data,
                    });
                }
            }
            Payload::ElementSection(reader) => {
                for (index, e) in reader.into_iter().enumerate() {
                    let e = e.map_err(invalid)?;
                    let active = match &e.kind {
                        ElementKind::Declared => continue,
                        ElementKind::Passive => None,
                        ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => Some((table_index.unwrap_or(0), expr_text(offset_expr)?)),
                    };
                    let mut items = Vec::new();
                    match e.items {
                        ElementItems::Functions(funcs) => {
                            for f in funcs {
                                items.push(ElemItem::Func(f.map_err(invalid)?));
                            }
                        }
                        ElementItems::Expressions(_, exprs) => {
                            for x in exprs {
                                items.push(ElemItem::Expr(expr_text(&x.map_err(invalid)?)?));
                            }
                        }
                    }
                    l.elements.push((index, ElemSeg { active, items }));
                }
            }
            _ => {}
        }
    }
    Ok(l)
}

fn differ(code: &str, path: impl Into<String>, message: impl Into<String>) -> Finding {
    let hint = match code {
        "layout-data-segment" => {
            "static data moved or changed, so pointers in the live heap would point at the wrong \
             bytes: make the fix without touching constants, strings or panic locations (a \
             moved line number changes a panic message), with the same toolchain and flags, or \
             do a normal upgrade"
        }
        "layout-element" | "layout-table" | "layout-imports" => {
            "function pointers in the live heap and callback indices of outstanding calls are \
             table indices: keep the same imports and functions in the table (same toolchain, \
             no new ic0 calls), or do a normal upgrade"
        }
        _ => {
            "the new module cannot take over the live heap: build it from the same toolchain \
             and flags with a code-only change, or do a normal upgrade"
        }
    };
    Finding::new(Severity::Error, Area::Layout, code, path, message).with_hint(hint)
}

fn limits(initial: u64, maximum: Option<u64>) -> String {
    match maximum {
        Some(m) => format!("{initial}..{m}"),
        None => format!("{initial}.. (no maximum)"),
    }
}

fn memory_text(m: &MemoryType) -> String {
    format!(
        "{} memory, {} pages{}{}",
        if m.memory64 { "i64" } else { "i32" },
        limits(m.initial, m.maximum),
        if m.shared { ", shared" } else { "" },
        m.page_size_log2
            .map(|p| format!(", page size 2^{p}"))
            .unwrap_or_default()
    )
}

fn table_text(t: &TableType) -> String {
    format!(
        "{} table of {}, {} entries{}",
        if t.table64 { "i64" } else { "i32" },
        t.element_type,
        limits(t.initial, t.maximum),
        if t.shared { ", shared" } else { "" }
    )
}

fn global_type_text(g: &GlobalType) -> String {
    format!(
        "{}{}{}",
        if g.shared { "shared " } else { "" },
        if g.mutable { "mut " } else { "" },
        g.content_type
    )
}

fn type_ref_text(t: &TypeRef) -> String {
    match t {
        TypeRef::Func(i) | TypeRef::FuncExact(i) => format!("function of type {i}"),
        TypeRef::Memory(m) => memory_text(m),
        TypeRef::Table(t) => table_text(t),
        TypeRef::Global(g) => format!("global {}", global_type_text(g)),
        TypeRef::Tag(t) => format!("tag of type {}", t.func_type_idx),
    }
}

fn count_text(what: &str, old: usize, new: usize) -> String {
    format!("the old module has {old} {what} and the new one {new}")
}

/// `Ok(None)` when the layouts are the same; otherwise the first difference, as an error
/// finding in [`Area::Layout`] with one of the codes `layout-imports`, `layout-memory`,
/// `layout-table`, `layout-global`, `layout-data-segment`, `layout-element`. Modules may be
/// gzipped. See the module documentation for the rules and their limits.
pub fn check_hotfix_layout(old: &[u8], new: &[u8]) -> Result<Option<Finding>, CompatError> {
    let old = crate::metadata::unpack(old)?;
    let new = crate::metadata::unpack(new)?;
    let old = parse(&old)?;
    let new = parse(&new)?;
    Ok(compare(&old, &new))
}

fn compare(old: &Layout<'_>, new: &Layout<'_>) -> Option<Finding> {
    compare_imports(old, new)
        .or_else(|| compare_memories(old, new))
        .or_else(|| compare_tables(old, new))
        .or_else(|| compare_globals(old, new))
        .or_else(|| compare_data(old, new))
        .or_else(|| compare_elements(old, new))
}

fn compare_imports(old: &Layout<'_>, new: &Layout<'_>) -> Option<Finding> {
    let (o, n) = (old.func_imports.len(), new.func_imports.len());
    if o != n {
        let shift = o.abs_diff(n);
        return Some(differ(
            "layout-imports",
            "imported functions",
            format!(
                "{}: every defined function's index shifts by {shift}, so the function table, \
                 function pointers in the heap and callback indices would name other functions",
                count_text("imported functions", o, n)
            ),
        ));
    }
    for (i, (a, b)) in old.func_imports.iter().zip(&new.func_imports).enumerate() {
        if a != b {
            return Some(differ(
                "layout-imports",
                format!("imported function {i}"),
                format!(
                    "is {}.{} in the old module and {}.{} in the new one: function index {i} \
                     would name another function",
                    a.0, a.1, b.0, b.1
                ),
            ));
        }
    }
    let (o, n) = (old.other_imports.len(), new.other_imports.len());
    if o != n {
        return Some(differ(
            "layout-imports",
            "imports",
            count_text("imported memories, tables and globals", o, n),
        ));
    }
    for (a, b) in old.other_imports.iter().zip(&new.other_imports) {
        if a != b {
            return Some(differ(
                "layout-imports",
                format!("import {}.{}", a.0, a.1),
                format!(
                    "is {} {}.{} in the old module and {} {}.{} in the new one",
                    type_ref_text(&a.2),
                    a.0,
                    a.1,
                    type_ref_text(&b.2),
                    b.0,
                    b.1
                ),
            ));
        }
    }
    None
}

fn compare_memories(old: &Layout<'_>, new: &Layout<'_>) -> Option<Finding> {
    let (o, n) = (old.memories.len(), new.memories.len());
    if o != n {
        return Some(differ(
            "layout-memory",
            "memories",
            count_text("memories", o, n),
        ));
    }
    for (i, (a, b)) in old.memories.iter().zip(&new.memories).enumerate() {
        if a != b {
            let index = u64::from(old.imported_memories) + i as u64;
            let message = if a.memory64 != b.memory64 {
                format!(
                    "index type changed from {} to {}",
                    if a.memory64 { "i64" } else { "i32" },
                    if b.memory64 { "i64" } else { "i32" }
                )
            } else if a.initial != b.initial {
                format!(
                    "initial size changed from {} to {} pages (static data or the stack moved)",
                    a.initial, b.initial
                )
            } else if a.maximum != b.maximum {
                format!(
                    "maximum size changed from {} to {}",
                    a.maximum
                        .map_or("none".to_string(), |m| format!("{m} pages")),
                    b.maximum
                        .map_or("none".to_string(), |m| format!("{m} pages"))
                )
            } else {
                format!("changed from {} to {}", memory_text(a), memory_text(b))
            };
            return Some(differ("layout-memory", format!("memory {index}"), message));
        }
    }
    None
}

fn compare_tables(old: &Layout<'_>, new: &Layout<'_>) -> Option<Finding> {
    let (o, n) = (old.tables.len(), new.tables.len());
    if o != n {
        return Some(differ("layout-table", "tables", count_text("tables", o, n)));
    }
    for (i, (a, b)) in old.tables.iter().zip(&new.tables).enumerate() {
        let path = format!("table {}", u64::from(old.imported_tables) + i as u64);
        if a.0 != b.0 {
            let message = if a.0.element_type != b.0.element_type {
                format!(
                    "element type changed from {} to {}",
                    a.0.element_type, b.0.element_type
                )
            } else if a.0.initial != b.0.initial {
                format!(
                    "initial size changed from {} to {} entries",
                    a.0.initial, b.0.initial
                )
            } else if a.0.maximum != b.0.maximum {
                format!(
                    "maximum size changed from {} to {}",
                    a.0.maximum
                        .map_or("none".to_string(), |m| format!("{m} entries")),
                    b.0.maximum
                        .map_or("none".to_string(), |m| format!("{m} entries"))
                )
            } else {
                format!("changed from {} to {}", table_text(&a.0), table_text(&b.0))
            };
            return Some(differ("layout-table", path, message));
        }
        if a.1 != b.1 {
            return Some(differ(
                "layout-table",
                path,
                format!(
                    "initial value changed from {} to {}",
                    a.1.as_deref().unwrap_or("null"),
                    b.1.as_deref().unwrap_or("null")
                ),
            ));
        }
    }
    None
}

fn compare_globals(old: &Layout<'_>, new: &Layout<'_>) -> Option<Finding> {
    let (o, n) = (old.globals.len(), new.globals.len());
    if o != n {
        return Some(differ(
            "layout-global",
            "globals",
            count_text("globals", o, n),
        ));
    }
    for (i, (a, b)) in old.globals.iter().zip(&new.globals).enumerate() {
        let path = format!("global {}", u64::from(old.imported_globals) + i as u64);
        if a.0 != b.0 {
            return Some(differ(
                "layout-global",
                path,
                format!(
                    "type changed from {} to {}",
                    global_type_text(&a.0),
                    global_type_text(&b.0)
                ),
            ));
        }
        if a.1 != b.1 {
            return Some(differ(
                "layout-global",
                path,
                format!(
                    "initial value changed from {} to {} (the live instance keeps the old \
                     value, which the new code's layout no longer matches)",
                    a.1, b.1
                ),
            ));
        }
    }
    None
}

fn data_kind_text(active: &Option<(u32, String, Option<u64>)>) -> String {
    match active {
        None => "passive".to_string(),
        Some((mem, expr, _)) => format!("active (memory {mem}, offset {expr})"),
    }
}

fn compare_data(old: &Layout<'_>, new: &Layout<'_>) -> Option<Finding> {
    let (o, n) = (old.data.len(), new.data.len());
    if o != n {
        return Some(differ(
            "layout-data-segment",
            "data segments",
            count_text("data segments", o, n),
        ));
    }
    for (i, (a, b)) in old.data.iter().zip(&new.data).enumerate() {
        let path = format!("data segment {i}");
        match (&a.active, &b.active) {
            (Some((am, ae, _)), Some((bm, be, _))) => {
                if am != bm {
                    return Some(differ(
                        "layout-data-segment",
                        path,
                        format!("memory index changed from {am} to {bm}"),
                    ));
                }
                if ae != be {
                    return Some(differ(
                        "layout-data-segment",
                        path,
                        format!("offset expression changed from {ae} to {be}"),
                    ));
                }
            }
            (None, None) => {}
            _ => {
                return Some(differ(
                    "layout-data-segment",
                    path,
                    format!(
                        "changed from {} to {}",
                        data_kind_text(&a.active),
                        data_kind_text(&b.active)
                    ),
                ))
            }
        }
        if a.bytes == b.bytes {
            continue;
        }
        let first = a.bytes.iter().zip(b.bytes).position(|(x, y)| x != y);
        let address = |offset: usize| {
            a.active
                .as_ref()
                .and_then(|(_, _, base)| *base)
                .map(|base| format!(", address 0x{:x}", base.wrapping_add(offset as u64)))
                .unwrap_or_default()
        };
        let describe = |offset: usize| match (a.bytes.get(offset), b.bytes.get(offset)) {
            (Some(x), Some(y)) => {
                let differing = a.bytes.iter().zip(b.bytes).filter(|(x, y)| x != y).count();
                format!(
                    "differs at byte offset 0x{offset:x} (old 0x{x:02x}, new 0x{y:02x}{}); \
                     {differing} byte{} differ{} in all",
                    address(offset),
                    if differing == 1 { "" } else { "s" },
                    if differing == 1 { "s" } else { "" }
                )
            }
            _ => String::new(),
        };
        let message = if a.bytes.len() == b.bytes.len() {
            describe(first.unwrap_or(0))
        } else {
            let sizes = format!(
                "is 0x{:x} bytes long in the old module and 0x{:x} in the new one",
                a.bytes.len(),
                b.bytes.len()
            );
            match first {
                Some(offset) => format!("{sizes}, and {}", describe(offset)),
                None => format!("{sizes} (the shorter is a prefix of the longer)"),
            }
        };
        return Some(differ("layout-data-segment", path, message));
    }
    None
}

fn elem_kind_text(active: &Option<(u32, String)>) -> String {
    match active {
        None => "passive".to_string(),
        Some((table, expr)) => format!("active (table {table}, offset {expr})"),
    }
}

fn compare_elements(old: &Layout<'_>, new: &Layout<'_>) -> Option<Finding> {
    let (o, n) = (old.elements.len(), new.elements.len());
    if o != n {
        return Some(differ(
            "layout-element",
            "element segments",
            count_text("active or passive element segments", o, n),
        ));
    }
    for ((index, a), (_, b)) in old.elements.iter().zip(&new.elements) {
        if a == b {
            continue;
        }
        let path = format!("element segment {index}");
        match (&a.active, &b.active) {
            (Some((at, ae)), Some((bt, be))) => {
                if at != bt {
                    return Some(differ(
                        "layout-element",
                        path,
                        format!("table index changed from {at} to {bt}"),
                    ));
                }
                if ae != be {
                    return Some(differ(
                        "layout-element",
                        path,
                        format!("offset expression changed from {ae} to {be}"),
                    ));
                }
            }
            (None, None) => {}
            _ => {
                return Some(differ(
                    "layout-element",
                    path,
                    format!(
                        "changed from {} to {}",
                        elem_kind_text(&a.active),
                        elem_kind_text(&b.active)
                    ),
                ))
            }
        }
        if let Some((i, (x, y))) = a
            .items
            .iter()
            .zip(&b.items)
            .enumerate()
            .find(|(_, (x, y))| x != y)
        {
            return Some(differ(
                "layout-element",
                format!("{path}, entry {i}"),
                format!(
                    "is {x} in the old module and {y} in the new one: a function pointer or \
                     callback index held in the live heap would call the wrong function"
                ),
            ));
        }
        return Some(differ(
            "layout-element",
            path,
            format!(
                "holds {} entries in the old module and {} in the new one",
                a.items.len(),
                b.items.len()
            ),
        ));
    }
    None
}
