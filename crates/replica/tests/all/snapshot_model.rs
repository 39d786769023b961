//! Random sessions of updates, trapping updates, snapshots (take, replace, load, delete),
//! upgrades, uninstalls and restarts on the kv canister, checked after every step against a
//! model that simply copies everything: the live key-value map and one full copy per snapshot.

use std::collections::BTreeMap;

use crate::snapshots::{
    content, delete_as, list_ids, live_content, load, snapshot_content, take_as, Content,
};
use crate::support::*;
use candid::Principal;
use drydock_replica::{ErrorCode, MAX_SNAPSHOTS_PER_CANISTER};
use proptest::prelude::*;

const KEYS: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Clone, Debug)]
enum Op {
    Put(usize, u8),
    /// `trap_after_write`: writes, then traps; nothing may remain.
    Trap(usize),
    Take {
        replace: Option<usize>,
    },
    Load(usize),
    Delete(usize),
    /// Upgrade to the other version of kv (v1 <-> v2); the map is in stable memory.
    Upgrade,
    Uninstall,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS.len(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0..KEYS.len()).prop_map(Op::Trap),
        3 => proptest::option::weighted(0.2, 0..16usize).prop_map(|replace| Op::Take { replace }),
        2 => (0..16usize).prop_map(Op::Load),
        1 => (0..16usize).prop_map(Op::Delete),
        1 => Just(Op::Upgrade),
        1 => Just(Op::Uninstall),
        1 => Just(Op::Restart),
    ]
}

/// What the canister holds, as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Live {
    map: BTreeMap<String, String>,
    /// "v1" (kv) or "v2" (kv_v2).
    version: &'static str,
}

struct ModelSnapshot {
    id: Vec<u8>,
    /// What the canister held when it was taken (snapshots of empty canisters are refused).
    live: Live,
    /// The canister's content when it was taken, byte for byte.
    content: Content,
}

#[derive(Default)]
struct Model {
    /// `None` after an uninstall.
    live: Option<Live>,
    snapshots: Vec<ModelSnapshot>,
    ids_ever: Vec<Vec<u8>>,
}

fn check(env: &mut Env, id: Principal, model: &Model) -> Result<(), TestCaseError> {
    match &model.live {
        Some(live) => {
            let (v,): (String,) = env.query(id, "version", ()).unwrap();
            prop_assert_eq!(v.as_str(), live.version);
            let (n,): (u64,) = env.query(id, "len", ()).unwrap();
            prop_assert_eq!(n as usize, live.map.len());
            for k in KEYS {
                let (got,): (Option<String>,) = env.query(id, "get", (k.to_string(),)).unwrap();
                prop_assert_eq!(got.as_ref(), live.map.get(k), "key {}", k);
            }
        }
        None => {
            let err = env.query_raw(id, "len", vec![]).unwrap_err();
            prop_assert_eq!(err.code, ErrorCode::CanisterWasmModuleNotFound);
        }
    }
    let ids: Vec<_> = model.snapshots.iter().map(|s| s.id.clone()).collect();
    prop_assert_eq!(list_ids(env, id), ids);
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let mut model = Model {
        live: Some(Live {
            map: BTreeMap::new(),
            version: "v1",
        }),
        ..Model::default()
    };
    for op in ops {
        match op {
            Op::Put(k, v) => {
                let r = env.update::<_, ()>(id, "put", (KEYS[k].to_string(), v.to_string()));
                match &mut model.live {
                    Some(live) => {
                        prop_assert!(r.is_ok(), "{:?}", r);
                        live.map.insert(KEYS[k].to_string(), v.to_string());
                    }
                    None => prop_assert!(r.is_err()),
                }
            }
            Op::Trap(k) => {
                let before = env.replica.state_hashes(&id).unwrap();
                let err = env
                    .update::<_, ()>(id, "trap_after_write", (KEYS[k].to_string(),))
                    .unwrap_err();
                let expected = if model.live.is_some() {
                    ErrorCode::CanisterCalledTrap
                } else {
                    ErrorCode::CanisterWasmModuleNotFound
                };
                prop_assert_eq!(err.code, expected);
                prop_assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
            }
            Op::Take { replace } => {
                let replaced = replace
                    .and_then(|i| (!model.snapshots.is_empty()).then(|| i % model.snapshots.len()));
                let replace_id = replaced.map(|i| model.snapshots[i].id.clone());
                let before = env.replica.state_hashes(&id).unwrap();
                let r = take_as(&mut env, user(), id, replace_id, false);
                let full = model.snapshots.len() >= MAX_SNAPSHOTS_PER_CANISTER;
                match (&model.live, replaced, full) {
                    (_, None, true) => {
                        let err = r.unwrap_err();
                        prop_assert!(
                            err.message.contains("maximum number of snapshots"),
                            "{}",
                            err
                        );
                    }
                    (None, _, _) => {
                        let err = r.unwrap_err();
                        prop_assert!(err.message.contains("empty canister"), "{}", err);
                    }
                    (Some(live), _, _) => {
                        let snap = r.unwrap();
                        prop_assert!(!model.ids_ever.contains(&snap.id), "id reused");
                        let recorded = content(&before);
                        prop_assert_eq!(&snapshot_content(&env, id, &snap.id), &recorded);
                        let live = live.clone();
                        if let Some(i) = replaced {
                            model.snapshots.remove(i);
                        }
                        model.ids_ever.push(snap.id.clone());
                        model.snapshots.push(ModelSnapshot {
                            id: snap.id,
                            live,
                            content: recorded,
                        });
                    }
                }
                prop_assert_eq!(
                    env.replica.state_hashes(&id).unwrap(),
                    before,
                    "take changes nothing"
                );
            }
            Op::Load(i) => {
                if model.snapshots.is_empty() {
                    // A snapshot id that was deleted (or never existed) is not found.
                    let mut gone = 1000u64.to_be_bytes().to_vec();
                    gone.extend_from_slice(id.as_slice());
                    let err = load(&mut env, id, &gone).unwrap_err();
                    prop_assert_eq!(err.code, ErrorCode::CanisterSnapshotNotFound);
                    continue;
                }
                let s = &model.snapshots[i % model.snapshots.len()];
                load(&mut env, id, &s.id).unwrap();
                prop_assert_eq!(&live_content(&env, id), &s.content);
                model.live = Some(s.live.clone());
            }
            Op::Delete(i) => {
                if model.snapshots.is_empty() {
                    continue;
                }
                let s = model.snapshots.remove(i % model.snapshots.len());
                delete_as(&mut env, user(), id, &s.id).unwrap();
                let err = load(&mut env, id, &s.id).unwrap_err();
                prop_assert_eq!(err.code, ErrorCode::CanisterSnapshotNotFound);
            }
            Op::Upgrade => {
                let Some(live) = &mut model.live else {
                    prop_assert!(env.upgrade(id, wasm("kv"), false, None).is_err());
                    continue;
                };
                let (next, name) = if live.version == "v1" {
                    ("v2", "kv_v2")
                } else {
                    ("v1", "kv")
                };
                env.upgrade(id, wasm(name), false, None).unwrap();
                live.version = next;
            }
            Op::Uninstall => {
                env.mgmt::<_, ()>(
                    user(),
                    "uninstall_code",
                    &ic_management_canister_types::UninstallCodeArgs {
                        canister_id: id,
                        sender_canister_version: None,
                    },
                )
                .unwrap();
                model.live = None;
            }
            Op::Restart => env.reopen(),
        }
        check(&mut env, id, &model)?;
    }
    // No snapshot moved while the canister lived on.
    for s in &model.snapshots {
        prop_assert_eq!(&snapshot_content(&env, id, &s.id), &s.content);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_snapshot_sessions_match_a_model_that_copies_everything(
        ops in proptest::collection::vec(op(), 1..24)
    ) {
        run(ops)?;
    }
}
