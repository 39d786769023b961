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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drydock_replica::{CallError, Principal, Replica, ReplicaConfig, MANAGEMENT_CANISTER};
use ic_management_canister_types::{CanisterIdRecord, Snapshot};

/// Kill trials; each runs a few commands, then kills the loop.
const TRIALS: usize = 100;
/// The keys the puts write, few so that restores visibly change values.
const KEYS: [&str; 3] = ["k0", "k1", "k2"];
/// At most this many snapshots are kept alive (a take in flight at a kill may add one); the
/// generator replaces or deletes beyond it.
const MAX_LIVE: usize = 3;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_drydock")
}

fn kv_wasm() -> PathBuf {
    let dir = std::env::var_os("TEST_CANISTERS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-canisters")
        });
    let p = dir.join("kv.wasm");
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-test-canisters.sh first",
        p.display()
    );
    p
}

fn drydock(state: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("run drydock");
    assert!(
        out.status.success(),
        "drydock {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A small deterministic generator, so a failing trial can be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

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

/// Makes this process the reaper of its orphaned descendants, so that a killed loop's
/// drydock processes become this process's children and [`reap_group`] can wait for them
/// (else they linger as zombies until init reaps them, which can take seconds in a container).
fn become_subreaper() {
    // SAFETY: prctl(2) with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

/// Waits until every process of the killed group has exited and is reaped: none can touch
/// the state directory afterwards.
fn reap_group(pgid: i32) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) writes only to `status`, a live local.
        let rc = unsafe { libc::waitpid(-pgid, &mut status, 0) };
        if rc < 0 {
            // ECHILD: no process of the group is left (EINTR: try again).
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
    }
}

/// Opens the directory, waiting (briefly) for a dying process to release its lock.
fn open_when_unlocked(state: &Path) -> Replica {
    let start = Instant::now();
    loop {
        match Replica::open(state, ReplicaConfig::default()) {
            Ok(r) => return r,
            Err(e)
                if start.elapsed() < Duration::from_secs(5) && e.to_string().contains("locked") =>
            {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("state directory does not open after SIGKILL: {e}"),
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
        let arg = candid::encode_one(key).unwrap();
        let value: Option<String> = match replica.query(Principal::anonymous(), id, "get", &arg) {
            Ok(bytes) => candid::decode_one(&bytes).unwrap(),
            Err(CallError::User(e)) => panic!("get {key}: {e}"),
            Err(CallError::Replica(e)) => panic!("get {key}: {e}"),
        };
        if let Some(v) = value {
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
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let id = drydock(&state, &["canister", "create"]);
    drydock(
        &state,
        &["canister", "install", &id, kv_wasm().to_str().unwrap()],
    );
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
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(script(&ops))
            .arg(bin())
            .arg(&state)
            .arg(&id)
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let a few commands through, then kill at a random moment.
        let want = 1 + next(&mut seed) as usize % 5;
        let mut acks: Vec<String> = Vec::new();
        let start = Instant::now();
        while acks.len() < want && start.elapsed() < Duration::from_secs(60) {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => acks.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        assert!(
            acks.len() >= want,
            "trial {trial}: the command loop stopped after {} commands: {}\n{ops:?}",
            acks.len(),
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 80_000));
        // SAFETY: kill(2) on the child's own process group; no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.wait();
        reap_group(pgid);
        reader.join().unwrap();
        acks.extend(rx.try_iter());

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
