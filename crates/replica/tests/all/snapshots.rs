//! Canister snapshots: take, load (also from another canister), list, delete — on real
//! canisters, byte for byte.

use crate::support::*;
use candid::{Encode, Principal};
use drydock_replica::{ErrorCode, RejectCode, StateHashes, UserError, MAX_SNAPSHOTS_PER_CANISTER};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInfoArgs, CanisterInfoResult, CanisterInstallMode, CanisterSettings,
    ChangeDetails, DeleteCanisterSnapshotArgs, LoadCanisterSnapshotArgs, LoadSnapshotRecord,
    ProvisionalCreateCanisterWithCyclesArgs, Snapshot, SnapshotSource, SnapshotVisibility,
    TakeCanisterSnapshotArgs, UninstallCodeArgs, UpdateSettingsArgs,
};

/// kv's raw stable region starts here (below it lives the key-value map).
pub const KV_RAW_BASE: u64 = 64 << 20;

pub fn take_as(
    env: &mut Env,
    sender: Principal,
    id: Principal,
    replace: Option<Vec<u8>>,
    uninstall_code: bool,
) -> Result<Snapshot, UserError> {
    env.mgmt(
        sender,
        "take_canister_snapshot",
        &TakeCanisterSnapshotArgs {
            canister_id: id,
            replace_snapshot: replace,
            uninstall_code: uninstall_code.then_some(true),
            sender_canister_version: None,
        },
    )
}

pub fn take(env: &mut Env, id: Principal) -> Snapshot {
    take_as(env, user(), id, None, false).unwrap()
}

pub fn load_as(
    env: &mut Env,
    sender: Principal,
    id: Principal,
    snapshot: &[u8],
) -> Result<(), UserError> {
    env.mgmt(
        sender,
        "load_canister_snapshot",
        &LoadCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snapshot.to_vec(),
            sender_canister_version: None,
        },
    )
}

pub fn load(env: &mut Env, id: Principal, snapshot: &[u8]) -> Result<(), UserError> {
    load_as(env, user(), id, snapshot)
}

pub fn list_as(
    env: &mut Env,
    sender: Principal,
    id: Principal,
) -> Result<Vec<Snapshot>, UserError> {
    env.mgmt(
        sender,
        "list_canister_snapshots",
        &CanisterIdRecord { canister_id: id },
    )
}

pub fn list(env: &mut Env, id: Principal) -> Vec<Snapshot> {
    list_as(env, user(), id).unwrap()
}

pub fn list_ids(env: &mut Env, id: Principal) -> Vec<Vec<u8>> {
    list(env, id).into_iter().map(|s| s.id).collect()
}

pub fn delete_as(
    env: &mut Env,
    sender: Principal,
    id: Principal,
    snapshot: &[u8],
) -> Result<(), UserError> {
    env.mgmt(
        sender,
        "delete_canister_snapshot",
        &DeleteCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snapshot.to_vec(),
        },
    )
}

/// What a snapshot holds of a canister: module, memories, globals, certified data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    pub module_hash: Option<String>,
    pub heap: String,
    pub heap_size: u64,
    pub stable: String,
    pub stable_size: u64,
    pub globals: String,
    pub certified_data: Vec<u8>,
}

pub fn content(h: &StateHashes) -> Content {
    Content {
        module_hash: h.module_hash.clone(),
        heap: h.heap.clone(),
        heap_size: h.heap_size,
        stable: h.stable.clone(),
        stable_size: h.stable_size,
        globals: h.globals.clone(),
        certified_data: h.certified_data.clone(),
    }
}

pub fn live_content(env: &Env, id: Principal) -> Content {
    content(&env.replica.state_hashes(&id).unwrap())
}

pub fn snapshot_content(env: &Env, id: Principal, snapshot: &[u8]) -> Content {
    content(&env.replica.snapshot_hashes(&id, snapshot).unwrap())
}

fn info(env: &mut Env, id: Principal) -> CanisterInfoResult {
    env.replica
        .canister_info(CanisterInfoArgs {
            canister_id: id,
            num_requested_changes: Some(20),
        })
        .unwrap()
}

fn last_change(env: &mut Env, id: Principal) -> ChangeDetails {
    info(env, id)
        .recent_changes
        .last()
        .and_then(|c| c.details.clone())
        .unwrap()
}

fn put(env: &mut Env, id: Principal, k: &str, v: &str) {
    let () = env
        .update(id, "put", (k.to_string(), v.to_string()))
        .unwrap();
}

fn get(env: &mut Env, id: Principal, k: &str) -> Option<String> {
    let (v,): (Option<String>,) = env.query(id, "get", (k.to_string(),)).unwrap();
    v
}

fn stable_write(env: &mut Env, id: Principal, offset: u64, data: &[u8]) {
    let () = env
        .update(id, "stable_write", (offset, data.to_vec()))
        .unwrap();
}

fn stable_read(env: &mut Env, id: Principal, offset: u64, len: u64) -> Vec<u8> {
    let (v,): (Vec<u8>,) = env.query(id, "stable_read", (offset, len)).unwrap();
    v
}

fn version(env: &mut Env, id: Principal) -> u64 {
    env.replica.canister(&id).unwrap().version
}

/// A canister created by `owner`, who is then its only controller.
fn create_as(env: &mut Env, owner: Principal) -> Principal {
    let r: CanisterIdRecord = env
        .mgmt(
            owner,
            "provisional_create_canister_with_cycles",
            &ProvisionalCreateCanisterWithCyclesArgs::default(),
        )
        .unwrap();
    r.canister_id
}

fn stop_and_delete(env: &mut Env, id: Principal) {
    let rec = CanisterIdRecord { canister_id: id };
    env.mgmt::<_, ()>(user(), "stop_canister", &rec).unwrap();
    env.mgmt::<_, ()>(user(), "delete_canister", &rec).unwrap();
}

fn uninstall(env: &mut Env, id: Principal) {
    env.mgmt::<_, ()>(
        user(),
        "uninstall_code",
        &UninstallCodeArgs {
            canister_id: id,
            sender_canister_version: None,
        },
    )
    .unwrap();
}

#[test]
fn snapshot_round_trip_restores_every_byte_and_field() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    put(&mut env, id, "a", "1");
    put(&mut env, id, "b", "2");
    stable_write(&mut env, id, KV_RAW_BASE + 10, b"original");
    let () = env.update(id, "certify", (b"first".to_vec(),)).unwrap();
    let (heap_before,): (u64,) = env.query(id, "heap_size", ()).unwrap();
    let (_,): (u64,) = env.update(id, "set_timer", (1000u64,)).unwrap();
    let before = env.replica.state_hashes(&id).unwrap();
    assert_ne!(before.global_timer, 0);

    let snap = take(&mut env, id);
    assert_eq!(&snap.id[..8], &0u64.to_be_bytes(), "the first local id");
    assert_eq!(&snap.id[8..], id.as_slice(), "then the canister id");
    assert!(snap.total_size >= before.heap_size + before.stable_size);
    assert_eq!(
        version(&mut env, id),
        before.version,
        "taking does not bump"
    );
    assert_eq!(snapshot_content(&env, id, &snap.id), content(&before));
    let status = env.status(id);
    assert_eq!(
        status.memory_metrics.snapshots_size,
        candid::Nat::from(snap.total_size)
    );

    // Change every part: heap (grows), stable memory, map, certified data, timer.
    put(&mut env, id, "a", "changed");
    put(&mut env, id, "new", "3");
    stable_write(&mut env, id, KV_RAW_BASE + 10, b"CHANGED!");
    stable_write(&mut env, id, KV_RAW_BASE + (8 << 20), b"grown");
    let (_,): (u64,) = env.update(id, "grow_heap", (8u64,)).unwrap();
    let () = env.update(id, "certify", (b"second".to_vec(),)).unwrap();
    let (_,): (u64,) = env.update(id, "set_timer", (0u64,)).unwrap();
    let mutated = env.replica.state_hashes(&id).unwrap();
    assert_ne!(mutated.heap, before.heap);
    assert!(mutated.heap_size > before.heap_size);
    assert_ne!(mutated.stable, before.stable);
    assert!(mutated.stable_size > before.stable_size);
    assert_ne!(mutated.certified_data, before.certified_data);
    // The snapshot did not move.
    assert_eq!(snapshot_content(&env, id, &snap.id), content(&before));

    load(&mut env, id, &snap.id).unwrap();
    let after = env.replica.state_hashes(&id).unwrap();
    assert_eq!(content(&after), content(&before));
    assert_eq!(content(&after), snapshot_content(&env, id, &snap.id));
    assert_eq!(
        after.version,
        mutated.version + 1,
        "loading bumps the version"
    );
    assert_eq!(
        after.global_timer, 0,
        "the timer of a snapshot taken from a canister is not restored"
    );
    // The canister sees its old self, including a heap that shrank back.
    assert_eq!(get(&mut env, id, "a").as_deref(), Some("1"));
    assert_eq!(get(&mut env, id, "new"), None);
    assert_eq!(stable_read(&mut env, id, KV_RAW_BASE + 10, 8), b"original");
    let (heap_after,): (u64,) = env.query(id, "heap_size", ()).unwrap();
    assert_eq!(heap_after, heap_before);
    let (pages,): (u64,) = env.query(id, "stable_size", ()).unwrap();
    assert_eq!(pages * 65536, before.stable_size);
    match last_change(&mut env, id) {
        ChangeDetails::LoadSnapshot(LoadSnapshotRecord {
            from_canister_id,
            snapshot_id,
            canister_version,
            taken_at_timestamp,
            source,
        }) => {
            assert_eq!(from_canister_id, None);
            assert_eq!(snapshot_id, snap.id);
            assert_eq!(canister_version, before.version);
            assert_eq!(taken_at_timestamp, snap.taken_at_timestamp);
            assert!(matches!(source, SnapshotSource::TakenFromCanister(_)));
        }
        other => panic!("expected load_snapshot, got {other:?}"),
    }
    // It keeps working, and the load is durable.
    put(&mut env, id, "c", "4");
    let now = env.replica.state_hashes(&id).unwrap();
    env.reopen();
    assert_eq!(env.replica.state_hashes(&id).unwrap(), now);
    assert_eq!(get(&mut env, id, "c").as_deref(), Some("4"));
    assert_eq!(snapshot_content(&env, id, &snap.id), content(&before));

    // Mutable globals (a Motoko canister keeps its heap pointer in one) come back too.
    let m = env.installed(wasm("counter_classic"));
    for _ in 0..3 {
        let (_,): (candid::Nat,) = env.update(m, "inc", ()).unwrap();
    }
    let before = live_content(&env, m);
    let snap = take(&mut env, m);
    for _ in 0..5 {
        let (_,): (candid::Nat,) = env.update(m, "inc", ()).unwrap();
    }
    let mutated = live_content(&env, m);
    assert_ne!(mutated.heap, before.heap);
    assert_ne!(mutated.globals, before.globals, "Motoko's globals moved");
    load(&mut env, m, &snap.id).unwrap();
    assert_eq!(live_content(&env, m), before);
    let (n,): (candid::Nat,) = env.query(m, "get", ()).unwrap();
    assert_eq!(n, candid::Nat::from(3u64));
    let (n,): (candid::Nat,) = env.update(m, "inc", ()).unwrap();
    assert_eq!(n, candid::Nat::from(4u64));
}

/// A brickable canister whose `pre_upgrade` traps (50 entries > threshold 10).
fn brick(env: &mut Env) -> Principal {
    let id = env.create();
    env.install_mode(
        id,
        wasm("brickable"),
        CanisterInstallMode::Install,
        Encode!(&Some(10u64)).unwrap(),
    )
    .unwrap();
    let (n,): (u64,) = env.update(id, "add_many", (50u64,)).unwrap();
    assert_eq!(n, 50);
    id
}

#[test]
fn seed_000_recovery_with_skip_pre_upgrade_and_snapshot() {
    let mut env = Env::new();
    let id = brick(&mut env);
    let err = env
        .upgrade(id, wasm("brickable_v2"), false, None)
        .unwrap_err();
    assert!(err.message.contains("canister_pre_upgrade"), "{err}");
    let before = env.replica.state_hashes(&id).unwrap();

    // Before trying the risky way out, keep a copy.
    let snap = take(&mut env, id);

    // The "fix" skips pre_upgrade, but its post_upgrade cannot read the state.
    env.upgrade(id, wasm("brickable_v2_blob_only"), true, None)
        .unwrap();
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 0, "the data is unreadable now");
    let (from,): (String,) = env.query(id, "restored_from", ()).unwrap();
    assert_eq!(from, "nothing");
    let (e,): (Option<String>,) = env.query(id, "entry", (7u64,)).unwrap();
    assert_eq!(e, None);

    // Load the snapshot: the canister is back as it was.
    load(&mut env, id, &snap.id).unwrap();
    assert_eq!(live_content(&env, id), content(&before));
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v1");
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 50);
    let (e,): (Option<String>,) = env.query(id, "entry", (7u64,)).unwrap();
    assert_eq!(e.as_deref(), Some("entry-7"));
    let (t,): (u64,) = env.query(id, "threshold_value", ()).unwrap();
    assert_eq!(t, 10);

    // And the right fix (rebuild from the stable map) now works from there.
    env.upgrade(id, wasm("brickable_v2"), true, None).unwrap();
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 50);
    let (from,): (String,) = env.query(id, "restored_from", ()).unwrap();
    assert_eq!(from, "stable_map");
    let kinds: Vec<_> = info(&mut env, id)
        .recent_changes
        .iter()
        .filter_map(|c| c.details.clone())
        .collect();
    assert!(
        matches!(kinds[kinds.len() - 2], ChangeDetails::LoadSnapshot(_)),
        "{kinds:?}"
    );
}

#[test]
fn load_snapshot_from_another_canister() {
    let mut env = Env::new();
    let a = env.installed(wasm("kv"));
    put(&mut env, a, "a", "from A");
    stable_write(&mut env, a, KV_RAW_BASE, b"A's raw bytes");
    let a_version = version(&mut env, a);
    let snap = take(&mut env, a);
    put(&mut env, a, "a", "A moved on");

    let b = env.installed(wasm("kv_v2"));
    put(&mut env, b, "b", "from B");
    let b_version = version(&mut env, b);
    load(&mut env, b, &snap.id).unwrap();
    assert_eq!(get(&mut env, b, "a").as_deref(), Some("from A"));
    assert_eq!(get(&mut env, b, "b"), None);
    let (v,): (String,) = env.query(b, "version", ()).unwrap();
    assert_eq!(v, "v1", "B runs A's module now");
    assert_eq!(stable_read(&mut env, b, KV_RAW_BASE, 13), b"A's raw bytes");
    assert_eq!(live_content(&env, b), snapshot_content(&env, a, &snap.id));
    assert_eq!(version(&mut env, b), b_version + 1);
    match last_change(&mut env, b) {
        ChangeDetails::LoadSnapshot(r) => {
            assert_eq!(r.from_canister_id, Some(a));
            assert_eq!(r.snapshot_id, snap.id);
            assert_eq!(r.canister_version, a_version);
            assert_eq!(r.taken_at_timestamp, snap.taken_at_timestamp);
            assert!(matches!(r.source, SnapshotSource::TakenFromCanister(_)));
        }
        other => panic!("expected load_snapshot, got {other:?}"),
    }
    // The copy is B's own: B's writes do not reach A's snapshot, nor A's writes B.
    put(&mut env, b, "a", "B's now");
    stable_write(&mut env, b, KV_RAW_BASE, b"B's raw bytes");
    load(&mut env, a, &snap.id).unwrap();
    assert_eq!(get(&mut env, a, "a").as_deref(), Some("from A"));
    assert_eq!(get(&mut env, b, "a").as_deref(), Some("B's now"));
    assert!(list(&mut env, b).is_empty(), "the snapshot stays A's");

    // Loading someone else's snapshot needs control of both canisters.
    let c = create_as(&mut env, eve());
    let before_c = env.replica.state_hashes(&c).unwrap();
    let err = load_as(&mut env, eve(), c, &snap.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterRejectedMessage, "{err}");
    assert_eq!(err.reject_code(), RejectCode::CanisterReject);
    assert_eq!(
        err.message,
        format!(
            "Only a controller of the canister that snapshot {} belongs to can load it on canister {c}. Sender: {}.",
            hex::encode(&snap.id),
            eve()
        )
    );
    let err = load(&mut env, c, &snap.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidController, "{err}");
    assert!(
        err.message.contains("Only the controllers of the canister"),
        "{err}"
    );
    assert_eq!(env.replica.state_hashes(&c).unwrap(), before_c);
    let err = load_as(&mut env, eve(), a, &snap.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidController, "{err}");
    assert_eq!(err.reject_code(), RejectCode::CanisterError);
}

#[test]
fn ten_snapshots_at_most_and_replace_snapshot_swaps_one_atomically() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let mut taken = Vec::new();
    for i in 0..MAX_SNAPSHOTS_PER_CANISTER {
        put(&mut env, id, "i", &i.to_string());
        taken.push(take(&mut env, id));
    }
    assert_eq!(MAX_SNAPSHOTS_PER_CANISTER, 10);
    let listed = list(&mut env, id);
    assert_eq!(listed, taken, "listed oldest first, as returned by take");
    assert!(listed
        .windows(2)
        .all(|w| w[0].taken_at_timestamp < w[1].taken_at_timestamp));

    let before = env.replica.state_hashes(&id).unwrap();
    let err = take_as(&mut env, user(), id, None, false).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterRejectedMessage, "{err}");
    assert_eq!(
        err.message,
        format!("Canister {id} has reached the maximum number of snapshots allowed: 10. Consider deleting an unnecessary snapshot of the specified canister before creating a new one.")
    );
    assert_eq!(list(&mut env, id), taken);
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);

    // Replacing needs no free slot: the old one goes when the new one exists.
    put(&mut env, id, "i", "replacement");
    let old = taken[3].clone();
    let new = take_as(&mut env, user(), id, Some(old.id.clone()), false).unwrap();
    let ids = list_ids(&mut env, id);
    assert_eq!(ids.len(), 10);
    assert!(!ids.contains(&old.id));
    assert_eq!(ids.last(), Some(&new.id));
    assert!(taken.iter().all(|s| s.id != new.id), "ids are never reused");
    let err = load(&mut env, id, &old.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterSnapshotNotFound, "{err}");
    load(&mut env, id, &new.id).unwrap();
    assert_eq!(get(&mut env, id, "i").as_deref(), Some("replacement"));
    load(&mut env, id, &taken[9].id).unwrap();
    assert_eq!(get(&mut env, id, "i").as_deref(), Some("9"));

    // Deleting frees a slot; the id of the deleted one is not handed out again.
    delete_as(&mut env, user(), id, &taken[0].id).unwrap();
    let again = take(&mut env, id);
    let ids = list_ids(&mut env, id);
    assert_eq!(ids.len(), 10);
    assert!(!ids.contains(&taken[0].id));
    let local = |s: &Snapshot| u64::from_be_bytes(s.id[..8].try_into().unwrap());
    assert_eq!(local(&again), 11, "0..=9, then the replacement took 10");
    let err = delete_as(&mut env, user(), id, &taken[0].id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterSnapshotNotFound, "{err}");
}

#[test]
fn snapshots_survive_uninstall_code_and_die_with_delete_canister() {
    let mut env = Env::new();
    let a = env.installed(wasm("kv"));
    let b = env.installed(wasm("kv"));
    put(&mut env, a, "a", "1");
    let s1 = take(&mut env, a);
    let s2 = take(&mut env, a);

    uninstall(&mut env, a);
    assert_eq!(env.status(a).module_hash, None);
    assert_eq!(list_ids(&mut env, a), vec![s1.id.clone(), s2.id.clone()]);
    // A reinstall does not touch them either.
    env.install(a, wasm("kv"));
    env.install_mode(
        a,
        wasm("kv"),
        CanisterInstallMode::Reinstall,
        candid::encode_args(()).unwrap(),
    )
    .unwrap();
    assert_eq!(get(&mut env, a, "a"), None);
    uninstall(&mut env, a);
    load(&mut env, a, &s1.id).unwrap();
    assert_eq!(get(&mut env, a, "a").as_deref(), Some("1"));

    stop_and_delete(&mut env, a);
    let err = list_as(&mut env, user(), a).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterNotFound, "{err}");
    let err = load(&mut env, b, &s2.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterSnapshotNotFound, "{err}");
    assert!(env.replica.snapshot_hashes(&a, &s2.id).is_err());
    env.reopen();
    let err = load(&mut env, b, &s1.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterSnapshotNotFound, "{err}");
    assert!(list(&mut env, b).is_empty());
}

#[test]
fn take_with_uninstall_code_snapshots_then_empties_the_canister() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    put(&mut env, id, "a", "1");
    let () = env.update(id, "certify", (b"data".to_vec(),)).unwrap();
    let (_,): (u64,) = env.update(id, "set_timer", (1000u64,)).unwrap();
    let before = env.replica.state_hashes(&id).unwrap();
    let changes_before = info(&mut env, id).total_num_changes;

    let snap = take_as(&mut env, user(), id, None, true).unwrap();
    let after = env.replica.state_hashes(&id).unwrap();
    assert_eq!(after.module_hash, None);
    assert_eq!(after.version, before.version + 1);
    assert_eq!((after.heap_size, after.stable_size), (0, 0));
    assert!(after.certified_data.is_empty());
    assert_eq!(after.global_timer, 0);
    assert_eq!(last_change(&mut env, id), ChangeDetails::CodeUninstall);
    assert_eq!(info(&mut env, id).total_num_changes, changes_before + 1);
    let err = env.query_raw(id, "len", vec![]).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterWasmModuleNotFound, "{err}");
    assert_eq!(snapshot_content(&env, id, &snap.id), content(&before));
    // Snapshot and uninstall were one step: a reopen sees both.
    env.reopen();
    assert_eq!(env.replica.state_hashes(&id).unwrap(), after);
    load(&mut env, id, &snap.id).unwrap();
    assert_eq!(live_content(&env, id), content(&before));
    assert_eq!(get(&mut env, id, "a").as_deref(), Some("1"));

    // An empty canister has nothing to snapshot.
    uninstall(&mut env, id);
    let err = take_as(&mut env, user(), id, None, false).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterRejectedMessage, "{err}");
    assert_eq!(
        err.message,
        format!("Failed to create snapshot for empty canister {id}")
    );
    let fresh = env.create();
    let err = take_as(&mut env, user(), fresh, None, true).unwrap_err();
    assert!(err.message.contains("empty canister"), "{err}");
    assert!(list(&mut env, fresh).is_empty());
}

#[test]
fn malformed_unknown_and_foreign_snapshot_ids_are_refused_and_change_nothing() {
    let mut env = Env::new();
    let a = env.installed(wasm("kv"));
    let b = env.installed(wasm("kv"));
    put(&mut env, a, "a", "1");
    let sa = take(&mut env, a);
    let sb = take(&mut env, b);
    let before_a = env.replica.state_hashes(&a).unwrap();
    let before_b = env.replica.state_hashes(&b).unwrap();
    let check_unchanged = |env: &mut Env| {
        assert_eq!(env.replica.state_hashes(&a).unwrap(), before_a);
        assert_eq!(env.replica.state_hashes(&b).unwrap(), before_b);
        assert_eq!(list_ids(env, a), vec![sa.id.clone()]);
        assert_eq!(list_ids(env, b), vec![sb.id.clone()]);
    };

    // Malformed: too short, too long.
    let mut too_long = sa.id.clone();
    too_long.extend_from_slice(&[0u8; 30]);
    for bad in [vec![], vec![1, 2, 3], sa.id[..7].to_vec(), too_long] {
        for err in [
            load(&mut env, a, &bad).unwrap_err(),
            delete_as(&mut env, user(), a, &bad).unwrap_err(),
            take_as(&mut env, user(), a, Some(bad.clone()), false).unwrap_err(),
        ] {
            assert_eq!(err.code, ErrorCode::InvalidManagementPayload, "{err}");
            assert!(err.message.contains("Invalid snapshot ID"), "{err}");
        }
        check_unchanged(&mut env);
    }

    // Unknown: well-formed, but never taken (or of no canister at all).
    let mut unknown = 99u64.to_be_bytes().to_vec();
    unknown.extend_from_slice(a.as_slice());
    let mut nobodys = 0u64.to_be_bytes().to_vec();
    nobodys.extend_from_slice(Principal::anonymous().as_slice());
    for bad in [unknown, nobodys] {
        for err in [
            load(&mut env, a, &bad).unwrap_err(),
            delete_as(&mut env, user(), a, &bad).unwrap_err(),
            take_as(&mut env, user(), a, Some(bad.clone()), true).unwrap_err(),
        ] {
            assert_eq!(err.code, ErrorCode::CanisterSnapshotNotFound, "{err}");
            assert_eq!(err.reject_code(), RejectCode::DestinationInvalid);
            assert_eq!(
                err.message,
                format!(
                    "Could not find the snapshot ID {} for canister {a}.",
                    hex::encode(&bad)
                )
            );
        }
        check_unchanged(&mut env);
    }

    // Someone else's: B's snapshot is not A's to delete or replace.
    for err in [
        delete_as(&mut env, user(), a, &sb.id).unwrap_err(),
        take_as(&mut env, user(), a, Some(sb.id.clone()), true).unwrap_err(),
    ] {
        assert_eq!(err.code, ErrorCode::CanisterRejectedMessage, "{err}");
        assert_eq!(err.reject_code(), RejectCode::CanisterReject);
        assert_eq!(
            err.message,
            format!(
                "The snapshot {} does not belong to canister {a}.",
                hex::encode(&sb.id)
            )
        );
    }
    check_unchanged(&mut env);

    // Non-controllers may do nothing.
    for err in [
        take_as(&mut env, eve(), a, None, false).unwrap_err(),
        load_as(&mut env, eve(), a, &sa.id).unwrap_err(),
        list_as(&mut env, eve(), a).unwrap_err(),
        delete_as(&mut env, eve(), a, &sa.id).unwrap_err(),
    ] {
        assert_eq!(err.code, ErrorCode::CanisterInvalidController, "{err}");
        assert!(
            err.message.contains("Only the controllers of the canister"),
            "{err}"
        );
        assert!(err.message.contains(&eve().to_text()), "{err}");
    }
    check_unchanged(&mut env);

    // A canister that does not exist.
    let ghost = drydock_replica::canister_id_from_index(7);
    let err = take_as(&mut env, user(), ghost, None, false).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterNotFound, "{err}");
    // A payload that is not the method's record.
    let err = env
        .mgmt::<_, ()>(
            user(),
            "load_canister_snapshot",
            &CanisterIdRecord { canister_id: a },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidManagementPayload, "{err}");
    check_unchanged(&mut env);
}

#[test]
fn snapshots_survive_a_restart() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    put(&mut env, id, "a", "1");
    stable_write(&mut env, id, KV_RAW_BASE, b"kept");
    let before = env.replica.state_hashes(&id).unwrap();
    let s1 = take(&mut env, id);
    put(&mut env, id, "a", "2");
    let s2 = take(&mut env, id);
    put(&mut env, id, "a", "3");

    env.reopen();
    assert_eq!(list(&mut env, id), vec![s1.clone(), s2.clone()]);
    assert_eq!(snapshot_content(&env, id, &s1.id), content(&before));
    load(&mut env, id, &s1.id).unwrap();
    assert_eq!(get(&mut env, id, "a").as_deref(), Some("1"));
    assert_eq!(live_content(&env, id), content(&before));
    let s3 = take(&mut env, id);
    assert_eq!(
        u64::from_be_bytes(s3.id[..8].try_into().unwrap()),
        2,
        "the id counter survives too"
    );

    env.reopen();
    load(&mut env, id, &s2.id).unwrap();
    assert_eq!(get(&mut env, id, "a").as_deref(), Some("2"));
    assert_eq!(stable_read(&mut env, id, KV_RAW_BASE, 4), b"kept");
    delete_as(&mut env, user(), id, &s2.id).unwrap();
    env.reopen();
    assert_eq!(list_ids(&mut env, id), vec![s1.id, s3.id]);
}

#[test]
fn snapshot_visibility_decides_who_may_list_snapshots() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let snap = take(&mut env, id);
    let set = |env: &mut Env, v: SnapshotVisibility| {
        env.mgmt::<_, ()>(
            user(),
            "update_settings",
            &UpdateSettingsArgs {
                canister_id: id,
                settings: CanisterSettings {
                    snapshot_visibility: Some(v),
                    ..Default::default()
                },
                sender_canister_version: None,
            },
        )
    };
    assert_eq!(
        env.status(id).settings.snapshot_visibility,
        SnapshotVisibility::Controllers
    );
    let err = list_as(&mut env, eve(), id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidController, "{err}");

    set(&mut env, SnapshotVisibility::Public).unwrap();
    assert_eq!(list_as(&mut env, eve(), id).unwrap(), vec![snap.clone()]);
    assert_eq!(
        env.status(id).settings.snapshot_visibility,
        SnapshotVisibility::Public
    );
    // Listing is all a viewer may do.
    let err = load_as(&mut env, eve(), id, &snap.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidController, "{err}");

    set(&mut env, SnapshotVisibility::AllowedViewers(vec![eve()])).unwrap();
    assert_eq!(list_as(&mut env, eve(), id).unwrap(), vec![snap.clone()]);
    assert_eq!(list_as(&mut env, user(), id).unwrap(), vec![snap.clone()]);
    let other = Principal::self_authenticating([3u8; 44]);
    let err = list_as(&mut env, other, id).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidController, "{err}");

    let many: Vec<_> = (0..11u8)
        .map(|i| Principal::self_authenticating([i; 44]))
        .collect();
    let err = set(&mut env, SnapshotVisibility::AllowedViewers(many)).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidManagementPayload, "{err}");
    env.reopen();
    assert_eq!(
        env.status(id).settings.snapshot_visibility,
        SnapshotVisibility::AllowedViewers(vec![eve()])
    );
}
