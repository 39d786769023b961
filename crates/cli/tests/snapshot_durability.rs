//! Crash tests for snapshots: a loop of `drydock` commands — kv puts, `canister snapshot
//! create` (plain and `--replace`), `restore` and `delete` — is killed with SIGKILL at a random
//! moment, many times over on one state directory. After each kill the directory must open,
//! and the canister must be exactly as the acknowledged commands left it, or as the one
//! command in flight at the kill would have left it: every acknowledged put readable, every
//! snapshot acknowledged as taken listed unless acknowledged as deleted, the data of every
//! acknowledged restore in place, and nothing half-done.
//!
//! The test keeps a model of the canister (its keys and values, and each snapshot's id and
//! the values it holds) and generates each trial's commands from it, so restores and deletes
//! name live snapshots, and a later restore checks the content of an earlier snapshot.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::time::{Duration, Instant};

use drydock_replica::{CallError, Principal, Replica, MANAGEMENT_CANISTER};
use ic_management_canister_types::{CanisterIdRecord, Snapshot};

use common::{drydock, get, kv_crash_setup, next, open_when_unlocked, CommandLoop};

/// Kill trials; each runs a few commands, then kills the loop.
const TRIALS: usize = 100;
/// The keys the puts write, few so that restores visibly change values.
const KEYS: [&str; 3] = ["k0", "k1", "k2"];
/// At most this many snapshots are kept alive (a take in flight at a kill may add one); the
/// generator replaces or deletes beyond it.
const MAX_LIVE: usize = 3;

type Data = BTreeMap<String, String>;

/// What the canister holds: its data and its snapshots (hex id → the data it holds).
#[derive(Clone, Debug, PartialEq)]
struct Model {
    data: Data,
    snapshots: BTreeMap<String, Data>,
}

/// A snapshot named in a command: one that existed when the trial began, or the one taken
/// by the trial's command number `n` (held by the script in `$sN`).
#[derive(Clone, Debug)]
enum Ref {
    Known(String),
    Taken(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Put { key: String, value: String },
    Take,
    Replace(Ref),
    Load(Ref),
    Delete(Ref),
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Op::Put { .. } => "put",
            Op::Take => "take",
            Op::Replace(_) => "replace",
            Op::Load(_) => "restore",
            Op::Delete(_) => "delete",
        }
    }
}

/// One trial's commands, generated against the model so every command would succeed.
fn generate(model: &Model, trial: usize, seed: &mut u64, count: usize) -> Vec<Op> {
    // The live snapshots as the script will know them.
    let mut live: Vec<Ref> = model.snapshots.keys().cloned().map(Ref::Known).collect();
    let mut ops = Vec::with_capacity(count);
    for i in 0..count {
        let pick = |seed: &mut u64, live: &[Ref]| live[next(seed) as usize % live.len()].clone();
        let roll = next(seed) % 100;
        let put = |seed: &mut u64| Op::Put {
            key: KEYS[next(seed) as usize % KEYS.len()].to_string(),
            value: format!("t{trial}-{i}"),
        };
        let op = if live.is_empty() {
            if roll < 50 {
                Op::Take
            } else {
                put(seed)
            }
        } else if roll < 35 {
            put(seed)
        } else if roll < 55 {
            if live.len() < MAX_LIVE {
                Op::Take
            } else {
                Op::Replace(pick(seed, &live))
            }
        } else if roll < 65 {
            Op::Replace(pick(seed, &live))
        } else if roll < 85 {
            Op::Load(pick(seed, &live))
        } else {
            Op::Delete(pick(seed, &live))
        };
        let same = |a: &Ref, b: &Ref| match (a, b) {
            (Ref::Known(x), Ref::Known(y)) => x == y,
            (Ref::Taken(x), Ref::Taken(y)) => x == y,
            _ => false,
        };
        match &op {
            Op::Take => live.push(Ref::Taken(i)),
            Op::Replace(old) => {
                live.retain(|r| !same(r, old));
                live.push(Ref::Taken(i));
            }
            Op::Delete(old) => live.retain(|r| !same(r, old)),
            Op::Put { .. } | Op::Load(_) => {}
        }
        ops.push(op);
    }
    ops
}

/// The bash loop that runs `ops` and prints `ack N` (`ack N ID` for a new snapshot) after
/// command `N` has succeeded. `$0` is drydock, `$1` the state directory, `$2` the canister.
fn script(ops: &[Op]) -> String {
    let r = |r: &Ref| match r {
        Ref::Known(hex) => hex.clone(),
        Ref::Taken(n) => format!("$s{n}"),
    };
    let mut s = String::from("set -u\n");
    for (i, op) in ops.iter().enumerate() {
        let line = match op {
            Op::Put { key, value } => format!(
                r#""$0" --state-dir "$1" canister call "$2" put '("{key}", "{value}")' >/dev/null || exit 1; echo "ack {i}""#
            ),
            Op::Take => format!(
                r#"s{i}=$("$0" --state-dir "$1" canister snapshot create "$2" -q) || exit 1; echo "ack {i} $s{i}""#
            ),
            Op::Replace(old) => format!(
                r#"s{i}=$("$0" --state-dir "$1" canister snapshot create "$2" --replace "{}" -q) || exit 1; echo "ack {i} $s{i}""#,
                r(old)
            ),
            Op::Load(snap) => format!(
                r#""$0" --state-dir "$1" canister snapshot restore "$2" "{}" || exit 1; echo "ack {i}""#,
                r(snap)
            ),
            Op::Delete(snap) => format!(
                r#""$0" --state-dir "$1" canister snapshot delete "$2" "{}" || exit 1; echo "ack {i}""#,
                r(snap)
            ),
        };
        let _ = writeln!(s, "{line}");
    }
    s
}

/// Applies an acknowledged command. `new_id` is the id a take printed; `taken` the ids the
/// trial's takes printed so far, by command number.
fn apply(model: &mut Model, op: &Op, new_id: Option<&str>, taken: &BTreeMap<usize, String>) {
    let id = |r: &Ref| match r {
        Ref::Known(hex) => hex.clone(),
        Ref::Taken(n) => taken[n].clone(),
    };
    match op {
        Op::Put { key, value } => {
            model.data.insert(key.clone(), value.clone());
        }
        Op::Take | Op::Replace(_) => {
            if let Op::Replace(old) = op {
                assert!(model.snapshots.remove(&id(old)).is_some(), "{op:?}");
            }
            let new_id = new_id.expect("a take prints the new id").to_string();
            assert!(
                !model.snapshots.contains_key(&new_id),
                "snapshot id {new_id} reused"
            );
            model.snapshots.insert(new_id, model.data.clone());
        }
        Op::Load(snap) => model.data = model.snapshots[&id(snap)].clone(),
        Op::Delete(snap) => {
            assert!(model.snapshots.remove(&id(snap)).is_some(), "{op:?}");
        }
    }
}

/// What the reopened directory holds: the canister's data and its snapshot ids.
fn observe(
    replica: &mut Replica,
    controller: Principal,
    id: Principal,
) -> (Data, BTreeSet<String>) {
    let mut data = Data::new();
    for key in KEYS {
        if let Some(v) = get(replica, id, key) {
            data.insert(key.to_string(), v);
        }
    }
    let arg = candid::encode_one(CanisterIdRecord { canister_id: id }).unwrap();
    let snapshots: Vec<Snapshot> = match replica.update(
        controller,
        MANAGEMENT_CANISTER,
        "list_canister_snapshots",
        &arg,
    ) {
        Ok(bytes) => candid::decode_one(&bytes).unwrap(),
        Err(CallError::User(e)) => panic!("list_canister_snapshots: {e}"),
        Err(CallError::Replica(e)) => panic!("list_canister_snapshots: {e}"),
    };
    let ids = snapshots.iter().map(|s| hex::encode(&s.id)).collect();
    (data, ids)
}

/// The model after `op`, in flight at the kill, took effect, if what was observed shows that;
/// a take's new id is the one id observed that the model does not know.
fn in_flight_applied(
    before: &Model,
    op: &Op,
    taken: &BTreeMap<usize, String>,
    data: &Data,
    ids: &BTreeSet<String>,
) -> Option<Model> {
    let mut after = before.clone();
    let new_id = match op {
        Op::Take | Op::Replace(_) => {
            let known: BTreeSet<&String> = before.snapshots.keys().collect();
            let mut new = ids.iter().filter(|id| !known.contains(id));
            let id = new.next()?;
            if new.next().is_some() {
                return None;
            }
            Some(id.as_str())
        }
        _ => None,
    };
    apply(&mut after, op, new_id, taken);
    let after_ids: BTreeSet<String> = after.snapshots.keys().cloned().collect();
    (after.data == *data && after_ids == *ids).then_some(after)
}

#[allow(clippy::print_stderr)] // the summary line, shown with --nocapture
#[test]
fn sigkill_during_snapshot_commands_loses_no_acknowledged_command() {
    let started = Instant::now();
    let (dir, state, id) = kv_crash_setup();
    let controller = Principal::from_text(drydock(&state, &["identity", "principal"])).unwrap();
    let canister = Principal::from_text(&id).unwrap();
    let mut model = Model {
        data: Data::new(),
        snapshots: BTreeMap::new(),
    };
    let mut seed = 0x5a9_5407_u64;
    let mut acked_kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut in_flight_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for trial in 0..TRIALS {
        let ops = generate(&model, trial, &mut seed, 40);
        let stderr_path = dir.path().join("stderr");
        let command_loop = CommandLoop::spawn(
            &script(&ops),
            &state,
            &id,
            File::create(&stderr_path).unwrap().into(),
        );
        // Let a few commands through, then kill at a random moment.
        let want = 1 + next(&mut seed) as usize % 5;
        let mut acks = command_loop.wait_for(want);
        assert!(
            acks.len() >= want,
            "trial {trial}: the command loop stopped after {} commands: {}\n{ops:?}",
            acks.len(),
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 80_000));
        acks.extend(command_loop.kill());

        // The model after every acknowledged command.
        let mut taken = BTreeMap::new();
        for (n, line) in acks.iter().enumerate() {
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some("ack"), "trial {trial}: {line}");
            let i: usize = words.next().and_then(|w| w.parse().ok()).expect(line);
            assert_eq!(i, n, "trial {trial}: acknowledgements out of order");
            let new_id = words.next();
            if let Some(new_id) = new_id {
                taken.insert(i, new_id.to_string());
            }
            apply(&mut model, &ops[i], new_id, &taken);
            *acked_kinds.entry(ops[i].kind()).or_default() += 1;
        }

        // The directory opens, and holds that model, or that model plus the one command in
        // flight at the kill, fully applied.
        let mut replica = open_when_unlocked(&state);
        let (data, ids) = observe(&mut replica, controller, canister);
        drop(replica);
        let acked_ids: BTreeSet<String> = model.snapshots.keys().cloned().collect();
        if data == model.data && ids == acked_ids {
            continue;
        }
        let in_flight = ops.get(acks.len()).unwrap_or_else(|| {
            panic!(
                "trial {trial}: every command was acknowledged, yet {data:?} {ids:?} ≠ {model:?}"
            )
        });
        model = in_flight_applied(&model, in_flight, &taken, &data, &ids).unwrap_or_else(|| {
            panic!(
                "trial {trial}: after {} acknowledged commands of {ops:?},\nwith {in_flight:?} \
                 in flight, the canister holds {data:?} and snapshots {ids:?};\nexpected {model:?} \
                 (or with the command in flight applied)",
                acks.len()
            )
        });
        *in_flight_kinds
            .entry(format!("{} (applied, unacknowledged)", in_flight.kind()))
            .or_default() += 1;
    }

    // Every kind of command was acknowledged, and checked, many times.
    for kind in ["put", "take", "replace", "restore", "delete"] {
        let n = acked_kinds.get(kind).copied().unwrap_or(0);
        assert!(
            n >= 5,
            "only {n} acknowledged {kind} commands: {acked_kinds:?}"
        );
    }

    // The canister still takes snapshots, restores and updates, through the CLI, after all that.
    let listed = drydock(&state, &["canister", "snapshot", "list", &id, "-q"]);
    let listed: BTreeSet<String> = listed.lines().map(str::to_string).collect();
    assert_eq!(
        listed,
        model.snapshots.keys().cloned().collect::<BTreeSet<_>>()
    );
    if model.snapshots.len() >= MAX_LIVE {
        let oldest = model.snapshots.keys().next().unwrap().clone();
        drydock(&state, &["canister", "snapshot", "delete", &id, &oldest]);
    }
    drydock(
        &state,
        &["canister", "call", &id, "put", r#"("k0", "before")"#],
    );
    let last = drydock(&state, &["canister", "snapshot", "create", &id, "-q"]);
    drydock(
        &state,
        &["canister", "call", &id, "put", r#"("k0", "after")"#],
    );
    drydock(&state, &["canister", "snapshot", "restore", &id, &last]);
    assert_eq!(
        drydock(&state, &["canister", "call", &id, "get", r#"("k0")"#]),
        r#"(opt "before")"#
    );
    eprintln!(
        "{TRIALS} SIGKILL trials in {:.1?}; acknowledged: {acked_kinds:?}; in flight and \
         applied: {in_flight_kinds:?}",
        started.elapsed()
    );
}
