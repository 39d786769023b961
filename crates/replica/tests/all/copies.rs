//! A state directory copied while its replica runs (`Replica::copy_state_to`, what a PocketIC
//! instance clone is): the copy and the source share their memory files until either writes
//! one, and neither ever sees the other's changes, whichever writes first.

use candid::Principal;
use drydock_replica::{Replica, ReplicaConfig};
use serde_bytes::ByteBuf;

use crate::snapshots::{load, take};
use crate::support::{wasm, Env};

/// The first byte kv's raw stable area may hold (above its key-value map).
const RAW: u64 = 64 << 20;

fn stable(env: &mut Env, id: Principal, at: u64) -> Vec<u8> {
    let (bytes,): (ByteBuf,) = env.query(id, "stable_read", (RAW + at, 4u64)).unwrap();
    bytes.into_vec()
}

fn write(env: &mut Env, id: Principal, at: u64, byte: u8) {
    env.update::<_, ()>(id, "stable_write", (RAW + at, ByteBuf::from(vec![byte; 4])))
        .unwrap();
}

fn get(env: &mut Env, id: Principal, key: &str) -> Option<String> {
    let (value,): (Option<String>,) = env.query(id, "get", (key,)).unwrap();
    value
}

fn put(env: &mut Env, id: Principal, key: &str, value: &str) {
    env.update::<_, ()>(id, "put", (key, value)).unwrap();
}

/// The copy as an `Env` of its own (the directory stays with the returned `TempDir`).
fn copy(env: &mut Env) -> Env {
    let dir = tempfile::tempdir().unwrap();
    env.replica.copy_state_to(dir.path()).unwrap();
    let replica = Replica::open(dir.path(), ReplicaConfig::default()).unwrap();
    Env { dir, replica }
}

#[test]
fn a_copied_state_directory_and_its_source_never_see_each_other_s_writes() {
    let mut a = Env::new();
    let id = a.installed(wasm("kv"));
    put(&mut a, id, "k", "before");
    write(&mut a, id, 0, 1);
    write(&mut a, id, 4096, 2);
    let snapshot = take(&mut a, id);
    write(&mut a, id, 0, 3);
    // The source's instance is live (it just ran), mapping the memory files the copy links.
    let mut b = copy(&mut a);
    assert_eq!(stable(&mut b, id, 0), vec![3; 4]);

    for round in 0..2u8 {
        // The source writes first: it takes its own copy of the files, and its live instance
        // moves onto them; the copy then writes the old files in place.
        write(&mut a, id, 0, 10 + round);
        write(&mut b, id, 4096, 20 + round);
        put(&mut b, id, "k", &format!("b{round}"));
        assert_eq!(stable(&mut a, id, 4096), vec![2; 4], "round {round}");
        assert_eq!(stable(&mut b, id, 0), vec![3; 4], "round {round}");
        assert_eq!(get(&mut a, id, "k").as_deref(), Some("before"));
        assert_eq!(get(&mut b, id, "k"), Some(format!("b{round}")));
        put(&mut a, id, "k", &format!("a{round}"));
        assert_eq!(get(&mut b, id, "k"), Some(format!("b{round}")));
        put(&mut a, id, "k", "before");
    }

    // A copy of the copy, then the snapshot loaded in the middle one only.
    let mut c = copy(&mut b);
    load(&mut b, id, &snapshot.id).unwrap();
    assert_eq!(stable(&mut b, id, 0), vec![1; 4]);
    assert_eq!(get(&mut b, id, "k").as_deref(), Some("before"));
    assert_eq!(stable(&mut c, id, 4096), vec![21; 4]);
    assert_eq!(stable(&mut a, id, 0), vec![11; 4]);
    write(&mut c, id, 0, 30);

    // Each directory, reopened, holds what it committed.
    for env in [&mut a, &mut b, &mut c] {
        env.reopen();
    }
    assert_eq!(
        (stable(&mut a, id, 0), stable(&mut a, id, 4096)),
        (vec![11; 4], vec![2; 4])
    );
    assert_eq!(
        (stable(&mut b, id, 0), stable(&mut b, id, 4096)),
        (vec![1; 4], vec![2; 4])
    );
    assert_eq!(
        (stable(&mut c, id, 0), stable(&mut c, id, 4096)),
        (vec![30; 4], vec![21; 4])
    );
    assert_eq!(get(&mut c, id, "k").as_deref(), Some("b1"));
}
