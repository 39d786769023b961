//! Crash tests: a `drydock` process killed with SIGKILL in the middle of a stream of updates
//! leaves a state directory that opens, with every acknowledged update applied and no torn
//! state.

mod common;

use std::process::Stdio;
use std::time::Duration;

use drydock_replica::{Principal, Replica, ReplicaConfig};

use common::{drydock, get, kv_crash_setup, next, open_when_unlocked, CommandLoop};

#[test]
fn sigkill_during_a_stream_of_updates_loses_no_acknowledged_update() {
    let (_dir, state, id) = kv_crash_setup();
    let canister = Principal::from_text(&id).unwrap();
    let mut seed = 0x5eed_u64;
    let trials = 20;
    let mut acked_total = 0;
    for trial in 0..trials {
        let script = format!(
            r#"for i in $(seq 0 100000); do "$0" --state-dir "$1" canister call "$2" put "(\"t{trial}-$i\", \"v$i\")" >/dev/null || exit 1; echo "$i"; done"#
        );
        let command_loop = CommandLoop::spawn(&script, &state, &id, Stdio::piped());
        let parse = |line: String| line.trim().parse::<u64>().unwrap();
        // Let a few updates through, then kill at a random moment.
        let want = 2 + next(&mut seed) % 4;
        let mut acked: Vec<u64> = command_loop
            .wait_for(want as usize)
            .into_iter()
            .map(parse)
            .collect();
        assert!(
            acked.len() as u64 >= want,
            "trial {trial}: the update stream did not start"
        );
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 60_000));
        acked.extend(command_loop.kill().into_iter().map(parse));

        // The directory opens, every acknowledged update is there, nothing is torn.
        let mut replica = open_when_unlocked(&state);
        let last = *acked.last().unwrap();
        for &i in &acked {
            assert_eq!(
                get(&mut replica, canister, &format!("t{trial}-{i}")),
                Some(format!("v{i}")),
                "trial {trial}: acknowledged update {i} lost"
            );
        }
        // The update in flight at the kill is either fully there or absent; none after it.
        let in_flight = get(&mut replica, canister, &format!("t{trial}-{}", last + 1));
        assert!(
            in_flight.is_none() || in_flight == Some(format!("v{}", last + 1)),
            "trial {trial}: torn value {in_flight:?}"
        );
        assert_eq!(
            get(&mut replica, canister, &format!("t{trial}-{}", last + 2)),
            None
        );
        acked_total += acked.len();
        drop(replica);
    }
    // The canister still serves updates after all that.
    drydock(
        &state,
        &["canister", "call", &id, "put", r#"("after", "all")"#],
    );
    let mut replica = Replica::open(&state, ReplicaConfig::default()).unwrap();
    assert_eq!(get(&mut replica, canister, "after").as_deref(), Some("all"));
    assert!(acked_total >= 2 * trials);
}
