//! `dirty_tracking`: what it costs to find the pages a message dirtied and to roll them back,
//! when the message wrote one page, in a 64 MiB and in a 4 GiB heap. The goal is a cost flat in
//! the heap size: drydock finds dirty pages with the `PAGEMAP_SCAN` ioctl
//! (`drydock_exec::memory`), which walks the populated page tables only.
//!
//! Each heap is a [`PageMemory`] over a sparse memory file of its size (as a committed heap is
//! mapped: `MAP_PRIVATE` of the file, guarded like a Wasm heap), whose pages are first *read*
//! so that their page-table entries are populated, as in a canister that has used its heap:
//! - `64MiB_all_read`: the whole 64 MiB heap read (16 Ki pages mapped);
//! - `4GiB_all_read`: the whole 4 GiB heap read (1 Mi pages mapped): the worst case;
//! - `4GiB_64MiB_read`: a 4 GiB heap of which the first 64 MiB were read: a large heap with a
//!   working set like the small one.
//!
//! - `4GiB_all_read_hugepage`: an experiment, not how drydock runs: as `4GiB_all_read`, but the
//!   file mapping is advised `MADV_HUGEPAGE` after `PageMemory::new` (undoing the
//!   `MADV_NOHUGEPAGE` that `memory.rs` sets), so the kernel may map the file's large page-cache
//!   folios with one PMD entry per 2 MiB instead of 512 PTEs. The bench still checks that exactly
//!   the written page is reported dirty.
//!
//! Each iteration writes one byte into one read page (untimed: the copy-on-write fault), then
//! times `dirty_pages()` + `rollback(size)`, as a trapped message's rollback does after looking at
//! its delta. `dirty_pages_only` times the scan alone. Baseline: copying one 4 KiB page.
//!
//! Run: `cargo bench -p drydock-bench --bench dirty_tracking`. Needs Linux 6.7+ (PAGEMAP_SCAN),
//! about 4 GiB of free memory for page cache, and 4 GiB of address space per heap.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use drydock_bench::report::Report;
use drydock_bench::{machine_summary, workspace_target};
use drydock_exec::{MemoryBacking, PageMemory, PAGE_SIZE};

const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;
/// The guard past a heap's maximum, as drydock's engine reserves it.
const GUARD: usize = 2 * GIB;

/// A heap of `size` bytes over a sparse memory file, with its first `read` bytes read.
struct Heap {
    mem: PageMemory,
    size: usize,
    /// The page the benchmark writes: in the middle of the read part.
    page: u64,
    // The memory file; removed when the heap is dropped.
    _file: tempfile::NamedTempFile,
}

impl Heap {
    fn new(size: usize, read: usize, huge: bool) -> Heap {
        let file = tempfile::NamedTempFile::new_in(workspace_target()).expect("memory file");
        file.as_file()
            .set_len(size as u64)
            .expect("sizing the memory file");
        let backing = MemoryBacking {
            file: Some(Arc::new(file.reopen().expect("reopening the memory file"))),
            size: size as u64,
        };
        let mem = PageMemory::new(&backing, size, size + GUARD, true).expect("mapping the heap");
        let base = mem.base();
        if huge {
            // SAFETY: [base, base + size) is the file mapping inside the heap's reservation;
            // the advice changes how it is mapped (page-table granularity), not its contents.
            let r = unsafe { libc::madvise(base.cast(), size, libc::MADV_HUGEPAGE) };
            assert_eq!(
                r,
                0,
                "madvise(MADV_HUGEPAGE): {}",
                std::io::Error::last_os_error()
            );
        }
        let mut sum = 0u8;
        for off in (0..read).step_by(PAGE_SIZE) {
            // SAFETY: `off < read <= size`, and [base, base + size) is mapped readable; nothing
            // else accesses the memory.
            sum = sum.wrapping_add(unsafe { base.add(off).read_volatile() });
        }
        black_box(sum);
        assert!(
            mem.dirty_pages().expect("PAGEMAP_SCAN").is_empty(),
            "reading must dirty nothing"
        );
        Heap {
            mem,
            size,
            page: (read / PAGE_SIZE / 2) as u64,
            _file: file,
        }
    }

    /// Writes one byte into the benchmark's page (a copy-on-write fault).
    fn dirty_one_page(&self, value: u8) {
        // SAFETY: the page lies inside the accessible part of the heap; nothing else accesses
        // the memory.
        unsafe {
            self.mem
                .base()
                .add(self.page as usize * PAGE_SIZE)
                .write_volatile(value)
        };
    }

    fn bench(&self, g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str) {
        g.bench_function(BenchmarkId::new("scan_and_rollback", name), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    self.dirty_one_page(i as u8 | 1);
                    let start = Instant::now();
                    let dirty = self.mem.dirty_pages().expect("PAGEMAP_SCAN");
                    self.mem.rollback(self.size).expect("rollback");
                    total += start.elapsed();
                    assert_eq!(dirty, [self.page], "exactly the written page is dirty");
                }
                total
            })
        });
        self.dirty_one_page(1);
        g.bench_function(BenchmarkId::new("dirty_pages_only", name), |b| {
            b.iter(|| self.mem.dirty_pages().expect("PAGEMAP_SCAN"))
        });
        self.mem.rollback(self.size).expect("rollback");
    }
}

/// The process's `FilePmdMapped` total from /proc/self/smaps_rollup: how much file memory is
/// mapped by 2 MiB page-table entries.
fn file_pmd_mapped() -> String {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let kb = rollup
        .lines()
        .find_map(|l| l.strip_prefix("FilePmdMapped:"))
        .map(|v| v.trim().to_string());
    format!("FilePmdMapped {}", kb.unwrap_or_else(|| "unknown".into()))
}

#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn main() {
    let report = Report::start();
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    println!("machine: {}", machine_summary());

    let mut g = c.benchmark_group("dirty_tracking");
    let src = vec![0xa5u8; PAGE_SIZE];
    let mut dst = vec![0u8; PAGE_SIZE];
    g.bench_function("memcpy_4KiB", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });

    // One heap at a time: the 4 GiB ones fill page cache while they live.
    for (name, size, read, huge) in [
        ("64MiB_all_read", 64 * MIB, 64 * MIB, false),
        ("4GiB_all_read", 4 * GIB, 4 * GIB, false),
        ("4GiB_64MiB_read", 4 * GIB, 64 * MIB, false),
        ("4GiB_all_read_hugepage", 4 * GIB, 4 * GIB, true),
    ] {
        let setup = Instant::now();
        let heap = Heap::new(size, read, huge);
        println!(
            "{name}: heap mapped and read in {:.2?}, {}",
            setup.elapsed(),
            file_pmd_mapped()
        );
        heap.bench(&mut g, name);
    }
    g.finish();

    c.final_summary();
    let id = |what: &str, name: &str| format!("dirty_tracking/{what}/{name}");
    report.print_ratios(
        "dirty_tracking: 4 GiB vs 64 MiB heap (goal: 1.0x)",
        &[
            (
                "scan+rollback, whole heap read",
                &id("scan_and_rollback", "4GiB_all_read"),
                &id("scan_and_rollback", "64MiB_all_read"),
            ),
            (
                "scan+rollback, 64 MiB of each heap read",
                &id("scan_and_rollback", "4GiB_64MiB_read"),
                &id("scan_and_rollback", "64MiB_all_read"),
            ),
            (
                "scan only, whole heap read",
                &id("dirty_pages_only", "4GiB_all_read"),
                &id("dirty_pages_only", "64MiB_all_read"),
            ),
            (
                "scan+rollback, whole heap read, MADV_HUGEPAGE experiment",
                &id("scan_and_rollback", "4GiB_all_read_hugepage"),
                &id("scan_and_rollback", "64MiB_all_read"),
            ),
        ],
    );
    report.print_ratios(
        "dirty_tracking: vs copying one 4 KiB page",
        &[
            (
                "64 MiB heap, scan+rollback",
                &id("scan_and_rollback", "64MiB_all_read"),
                "dirty_tracking/memcpy_4KiB",
            ),
            (
                "4 GiB heap (all read), scan+rollback",
                &id("scan_and_rollback", "4GiB_all_read"),
                "dirty_tracking/memcpy_4KiB",
            ),
            (
                "4 GiB heap (64 MiB read), scan+rollback",
                &id("scan_and_rollback", "4GiB_64MiB_read"),
                "dirty_tracking/memcpy_4KiB",
            ),
        ],
    );
    report.print_ratios(
        "dirty_tracking: 4 GiB heap all read, MADV_NOHUGEPAGE (as drydock maps) vs MADV_HUGEPAGE (experiment)",
        &[
            ("scan+rollback", &id("scan_and_rollback", "4GiB_all_read"), &id("scan_and_rollback", "4GiB_all_read_hugepage")),
            ("scan only", &id("dirty_pages_only", "4GiB_all_read"), &id("dirty_pages_only", "4GiB_all_read_hugepage")),
        ],
    );
}
