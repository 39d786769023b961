#!/usr/bin/env bash
# Fuzzes drydock's decoders for a fixed time each, as CI does, installing cargo-fuzz first if
# it is missing (idempotent). The targets live in fuzz/, its own cargo-fuzz workspace.
#
#   scripts/fuzz.sh                                   # the target `envelope`, 60 s
#   scripts/fuzz.sh envelope envelope_signed          # several targets, 60 s each
#   scripts/fuzz.sh all                               # every target, 60 s each
#
# The targets: envelope, envelope_signed (the HTTP request envelope), module_intake (Wasm
# module intake), candid_args (management call arguments), most (Motoko stable signatures),
# snapshot_upload (snapshot upload arguments), pocketic (PocketIC request bodies). See
# ARCHITECTURE.md, "Fuzz targets".
#   DRYDOCK_FUZZ_SECONDS=300 scripts/fuzz.sh          # longer
#   DRYDOCK_FUZZ_SANITIZER=address scripts/fuzz.sh    # with AddressSanitizer (5x slower)
#
# First the drydock-fuzz library's tests (the seeds are current and accepted). Each target then
# starts from a copy of its committed corpus (fuzz/corpus/<target>/) in a temporary
# directory, so a run never grows the committed corpus. A crash, leak, timeout or OOM fails the
# script; the reproducer stays in fuzz/artifacts/<target>/ and its path is printed.
#
# Only a stable toolchain is needed. Without a sanitizer cargo-fuzz passes no -Z flag: the
# coverage instrumentation (-Cpasses=sancov-module, -Cllvm-args=-sanitizer-coverage-*) and the
# overflow checks (-Cdebug-assertions) are stable flags. The decoders are safe Rust, so the
# default is no sanitizer, at about 5x the executions per second of ASan. ASan needs
# `-Zsanitizer=address`, which stable rustc accepts with RUSTC_BOOTSTRAP=1 (its x86_64 Linux
# builds ship the ASan runtime); the script sets it only then. Switching sanitizers rebuilds
# everything under fuzz/target.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

SECS="${DRYDOCK_FUZZ_SECONDS:-60}"
SANITIZER="${DRYDOCK_FUZZ_SANITIZER:-none}"
ALL=(envelope envelope_signed module_intake candid_args most snapshot_upload pocketic)
if [ "$#" -eq 1 ] && [ "$1" = all ]; then TARGETS=("${ALL[@]}")
elif [ "$#" -gt 0 ]; then TARGETS=("$@")
else TARGETS=(envelope); fi
for target in "${TARGETS[@]}"; do
    case " ${ALL[*]} " in
        *" $target "*) ;;
        *) echo "fuzz.sh: unknown target $target (the targets: ${ALL[*]}, or all)" >&2; exit 2 ;;
    esac
done

command -v cargo >/dev/null 2>&1 || { echo "fuzz.sh: cargo not found: install Rust with rustup" >&2; exit 1; }
command -v c++ >/dev/null 2>&1 || { echo "fuzz.sh: no C++ compiler (libFuzzer is C++): apt-get install g++" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
if [ "$SANITIZER" != none ]; then
    export RUSTC_BOOTSTRAP=1
fi

# The generators' own tests: the committed seeds are the generated ones and are accepted.
cargo test --locked --quiet

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for target in "${TARGETS[@]}"; do
    echo "fuzz.sh: building $target (sanitizer: $SANITIZER)" >&2
    cargo fuzz build "$target" --sanitizer "$SANITIZER"

    corpus="$WORK/corpus-$target"
    mkdir -p "$corpus" "artifacts/$target"
    if [ -d "corpus/$target" ]; then cp -R "corpus/$target/." "$corpus/"; fi
    before="$WORK/artifacts-before-$target"
    ls "artifacts/$target" >"$before"

    echo "fuzz.sh: fuzzing $target for $SECS s" >&2
    status=0
    cargo fuzz run "$target" --sanitizer "$SANITIZER" "$corpus" -- \
        -max_total_time="$SECS" -timeout=10 -print_final_stats=1 || status=$?

    found=$(ls "artifacts/$target" | grep -vxF -f "$before" || true)
    if [ "$status" -ne 0 ] || [ -n "$found" ]; then
        echo "fuzz.sh: $target FAILED (exit $status)" >&2
        for f in $found; do
            echo "fuzz.sh: reproducer: $ROOT/fuzz/artifacts/$target/$f" >&2
            echo "fuzz.sh:   replay with: (cd fuzz && ${RUSTC_BOOTSTRAP:+RUSTC_BOOTSTRAP=1 }cargo fuzz run $target --sanitizer $SANITIZER artifacts/$target/$f)" >&2
        done
        exit 1
    fi
    echo "fuzz.sh: $target: no crash in $SECS s" >&2
done
