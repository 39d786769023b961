//! Install, update and query on the Rust key-value canister.

use crate::support::*;

#[test]
fn kv_canister_installs_and_answers_updates_and_queries() {
    let mut env = Env::new();
    let id = env.create();
    env.install(id, wasm("kv"));
    let () = env.update(id, "put", ("a".to_string(), "1".to_string())).unwrap();
    let (v,): (Option<String>,) = env.query(id, "get", ("a".to_string(),)).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    env.reopen();
    let (v,): (Option<String>,) = env.query(id, "get", ("a".to_string(),)).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
}
