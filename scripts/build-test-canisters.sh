#!/usr/bin/env bash
# Builds drydock's test canisters into target/test-canisters/ (repo-relative):
#   Rust (canisters/, its own cargo workspace, wasm32-unknown-unknown):
#     kv.wasm kv_v2.wasm serde_state.wasm serde_state_v2.wasm
#     brickable.wasm brickable_v2.wasm brickable_post_trap.wasm brickable_v2_blob_only.wasm
#     brickable_c2.wasm (upgrade from v1 works, its own pre_upgrade always traps)
#     brickable_hotfix.wasm (v1 without the threshold trap; code-only change: built
#       with BRICKABLE_HOTFIX=1, not a feature, see canisters/brickable/Cargo.toml)
#     bigmem.wasm (GiB-scale stable memory and heap, for snapshot tests)
#     pingpong.wasm pingpong_heartbeat.wasm (inter-canister calls, timers, cycles,
#       management canister; the second adds a heartbeat: feature `heartbeat`)   (+ NAME.did)
#     upgrader.wasm (the upgrader canister, also carried by the drydock binary)
#     selfup{,_v2,_unhealthy,_post_trap}.wasm (asks the upgrader for its own upgrade)
#     certified.wasm (values certified in an ic-certification RbTree, with witnesses)
#   Motoko (motoko/, moc.js from npm `motoko`):                     (+ .did, .most)
#     counter_eop{,_v2,_incompatible}.wasm counter_classic{,_v2}.wasm
#     shop{,_required_field,_result_tag,_removed_method,_opt_field,_added_method,_nat_to_int}.wasm
#       (Candid-change family)
#     stable_{nat,int,dropped}.wasm (stable-type family)
#     pingpong_mo.wasm (src/pingpong.mo: calls, composite query, timer; `_mo` because
#       pingpong.wasm is the Rust one) heartbeat.wasm (system func heartbeat)
#     selfup_mo{,_v2}.wasm (asks the upgrader canister for its own upgrade)
# then checks every module with scripts/inspect-wasm.js --check, and that
# brickable.wasm and brickable_hotfix.wasm differ only in code (--same-layout).
#
# Idempotent: installs the wasm32 rust target and motoko/node_modules when
# missing, and skips a half (Rust / Motoko) whose outputs are newer than its
# sources. Options: --force (rebuild everything), --rust-only, --motoko-only, --kv-only
# (only kv.wasm, what scripts/quickstart.sh needs; cargo decides what is stale).
# Environment: TEST_CANISTERS_OUT overrides the output directory; CARGO_TARGET_DIR is honoured
# (the wasm is copied from wherever cargo built it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${TEST_CANISTERS_OUT:-$ROOT/target/test-canisters}"
CAN="$ROOT/canisters"
MOT="$ROOT/motoko"
TARGET=wasm32-unknown-unknown

force=0 do_rust=1 do_motoko=1 kv_only=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --rust-only) do_motoko=0 ;;
    --motoko-only) do_rust=0 ;;
    --kv-only) kv_only=1 do_motoko=0 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "build-test-canisters: unknown option $a" >&2; exit 2 ;;
  esac
done

die() { echo "build-test-canisters: error: $*" >&2; exit 1; }
log() { echo "build-test-canisters: $*"; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH. $2"; }

need node "Install Node.js >= 18 (e.g. apt-get install nodejs npm)."
mkdir -p "$OUT"

# stale STAMP DIR... : true when STAMP is missing or any file under the DIRs
# (excluding target/ and node_modules/) or this script is newer than STAMP.
stale() {
  local stamp="$1"; shift
  [ "$force" = 1 ] && return 0
  [ -f "$stamp" ] || return 0
  [ "$0" -nt "$stamp" ] && return 0
  [ -n "$(find "$@" \( -name target -o -name node_modules \) -prune -o -type f -newer "$stamp" -print -quit)" ]
}

# ------------------------------------------------------------------ Rust
RUST_OUT=(kv kv_v2 serde_state serde_state_v2 brickable brickable_v2 brickable_post_trap brickable_v2_blob_only
  brickable_c2 brickable_hotfix bigmem pingpong pingpong_heartbeat
  upgrader selfup selfup_v2 selfup_unhealthy selfup_post_trap certified)
build_rust() {
  need cargo "Install Rust with rustup."
  need rustup "Install rustup (the wasm32 target is added with it)."
  if ! rustup target list --installed | grep -qx "$TARGET"; then
    log "adding rust target $TARGET"
    rustup target add "$TARGET" || die "rustup target add $TARGET failed"
  fi
  # Where cargo puts the wasm: canisters/target, or wherever CARGO_TARGET_DIR (or a cargo
  # config) sends it; cargo itself says.
  local target_dir
  target_dir="$(cd "$CAN" && cargo metadata --format-version 1 --no-deps --locked \
    | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).target_directory))')" \
    || die "cargo metadata failed in $CAN"
  [ -n "$target_dir" ] || die "cargo metadata gave no target directory in $CAN"
  local rel="$target_dir/$TARGET/release"
  # cargo <features> <pkg:suffix>...: build, then copy each wasm and its .did.
  cargo_variant() {
    local features="$1"; shift
    local pkgs=() spec
    for spec in "$@"; do pkgs+=(-p "${spec%%:*}"); done
    log "cargo build ${pkgs[*]} ${features:+--features $features}"
    (cd "$CAN" && cargo build --release --locked --target "$TARGET" "${pkgs[@]}" ${features:+--features "$features"}) \
      || die "cargo build failed (${pkgs[*]} $features)"
    for spec in "$@"; do
      local pkg="${spec%%:*}" name="${spec#*:}" did
      cp "$rel/$pkg.wasm" "$OUT/$name.wasm"
      case "$name" in
        brickable*) did="$CAN/brickable/brickable.did" ;;
        pingpong*) did="$CAN/pingpong/pingpong.did" ;;
        selfup*) did="$CAN/selfup/selfup.did" ;;
        *) did="$CAN/$pkg/$name.did" ;;
      esac
      [ -f "$did" ] || die "missing Candid file $did"
      cp "$did" "$OUT/$name.did"
    done
  }
  if [ "$kv_only" = 1 ]; then
    cargo_variant "" kv:kv
    return
  fi
  cargo_variant "" kv:kv serde_state:serde_state brickable:brickable bigmem:bigmem
  cargo_variant "kv/v2,serde_state/v2,brickable/v2" kv:kv_v2 serde_state:serde_state_v2 brickable:brickable_v2
  cargo_variant "brickable/trap_post_upgrade" brickable:brickable_post_trap
  cargo_variant "brickable/blob_only" brickable:brickable_v2_blob_only
  cargo_variant "brickable/c2" brickable:brickable_c2
  # The hotfix must differ from brickable.wasm in code only, so it is the default build
  # (same cargo metadata hash) with an environment variable read by option_env!.
  BRICKABLE_HOTFIX=1 cargo_variant "" brickable:brickable_hotfix
  # pingpong on its own, so that its extra dependencies (ic-cdk-timers, futures, ...)
  # cannot unify features into the crates above.
  cargo_variant "" pingpong:pingpong
  cargo_variant "pingpong/heartbeat" pingpong:pingpong_heartbeat
  # The upgrader canister (drydock also carries it: `drydock upgrader wasm`) and the canister
  # that asks it for its own upgrade, in its versions.
  cargo_variant "" upgrader:upgrader
  cargo_variant "" selfup:selfup
  cargo_variant "selfup/v2" selfup:selfup_v2
  cargo_variant "selfup/unhealthy" selfup:selfup_unhealthy
  cargo_variant "selfup/post_trap" selfup:selfup_post_trap
  # Values certified in an ic-certification RbTree, checked by agents.
  cargo_variant "" certified:certified
}

# ------------------------------------------------------------------ Motoko
MOTOKO_OUT=(counter_eop counter_eop_v2 counter_eop_incompatible counter_classic counter_classic_v2
  shop shop_required_field shop_result_tag shop_removed_method shop_opt_field shop_added_method shop_nat_to_int
  stable_nat stable_int stable_dropped pingpong_mo heartbeat selfup_mo selfup_mo_v2)
build_motoko() {
  need npm "Install npm (comes with Node.js)."
  if [ ! -f "$MOT/node_modules/motoko/package.json" ] || [ "$MOT/package-lock.json" -nt "$MOT/node_modules/.package-lock.json" ]; then
    log "npm ci in motoko/"
    (cd "$MOT" && npm ci --no-audit --no-fund) || die "npm ci in motoko/ failed"
  fi
  log "compiling Motoko actors with moc.js"
  node "$MOT/build.js" "$OUT" || die "motoko/build.js failed"
}

outputs_exist() {
  local n ext="$1"; shift
  for n in "$@"; do [ -f "$OUT/$n.$ext" ] || return 1; done
}

start=$(date +%s)
if [ "$kv_only" = 1 ]; then
  # No stamp: the stamp stands for every Rust canister, and cargo itself knows whether kv is
  # up to date (a second or two).
  build_rust
elif [ "$do_rust" = 1 ]; then
  if stale "$OUT/.rust.stamp" "$CAN" || ! outputs_exist wasm "${RUST_OUT[@]}"; then
    rm -f "$OUT/.rust.stamp"
    build_rust
    touch "$OUT/.rust.stamp"
  else
    log "Rust canisters up to date (use --force to rebuild)"
  fi
fi
if [ "$do_motoko" = 1 ]; then
  if stale "$OUT/.motoko.stamp" "$MOT/src" "$MOT/build.js" "$MOT/package-lock.json" \
     || ! outputs_exist wasm "${MOTOKO_OUT[@]}" || ! outputs_exist most "${MOTOKO_OUT[@]}"; then
    rm -f "$OUT/.motoko.stamp"
    build_motoko
    touch "$OUT/.motoko.stamp"
  else
    log "Motoko canisters up to date (use --force to rebuild)"
  fi
fi

node "$ROOT/scripts/inspect-wasm.js" --check "$OUT" || die "wasm checks failed (see FAIL lines above)"
if [ -f "$OUT/brickable.wasm" ] && [ -f "$OUT/brickable_hotfix.wasm" ]; then
  node "$ROOT/scripts/inspect-wasm.js" --same-layout "$OUT/brickable.wasm" "$OUT/brickable_hotfix.wasm" \
    || die "brickable_hotfix.wasm must differ from brickable.wasm in the code section only (memories, tables, globals, data and element segments identical); a toolchain or dependency change broke this (see the FAIL line above)"
fi
log "done in $(( $(date +%s) - start ))s; outputs in $OUT:"
(cd "$OUT" && ls -l -- *.wasm | awk '{printf "  %-32s %9d bytes\n", $9, $5}')
