//! The global timer.

use crate::support::*;

#[test]
fn global_timer_fires_on_a_running_canister_and_code_changes_deactivate_it() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let (_,): (u64,) = env.update(id, "set_timer", (0u64,)).unwrap();
    // Deadline "now": it is due at the next round.
    let (prev,): (u64,) = env.update(id, "set_timer", (1u64,)).unwrap();
    assert_eq!(prev, 0);
    assert_ne!(env.replica.state_hashes(&id).unwrap().global_timer, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(env.replica.run_timers().unwrap(), 1);
    let (n,): (u64,) = env.query(id, "timer_fired", ()).unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        env.replica.state_hashes(&id).unwrap().global_timer,
        0,
        "a fired timer is deactivated"
    );
    // An upgrade deactivates a pending timer.
    let (_,): (u64,) = env.update(id, "set_timer", (1000u64,)).unwrap();
    env.upgrade(id, wasm("kv_v2"), false, None).unwrap();
    assert_eq!(env.replica.state_hashes(&id).unwrap().global_timer, 0);
}
