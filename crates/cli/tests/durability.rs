//! Crash tests: a `drydock` process killed with SIGKILL in the middle of a stream of updates
//! leaves a state directory that opens, with every acknowledged update applied and no torn
//! state.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drydock_replica::{CallError, Principal, Replica, ReplicaConfig};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_drydock")
}

fn kv_wasm() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-canisters/kv.wasm");
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

fn get(replica: &mut Replica, id: Principal, key: &str) -> Option<String> {
    let arg = candid::encode_one(key).unwrap();
    match replica.query(Principal::anonymous(), id, "get", &arg) {
        Ok(bytes) => candid::decode_one(&bytes).unwrap(),
        Err(CallError::User(e)) => panic!("get {key}: {e}"),
        Err(CallError::Replica(e)) => panic!("get {key}: {e}"),
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

/// A small deterministic generator, so a failing trial can be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn sigkill_during_a_stream_of_updates_loses_no_acknowledged_update() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let id = drydock(&state, &["canister", "create"]);
    drydock(
        &state,
        &["canister", "install", &id, kv_wasm().to_str().unwrap()],
    );
    let canister = Principal::from_text(&id).unwrap();
    let mut seed = 0x5eed_u64;
    let trials = 20;
    let mut acked_total = 0;
    for trial in 0..trials {
        let script = format!(
            r#"for i in $(seq 0 100000); do "$0" --state-dir "$1" canister call "$2" put "(\"t{trial}-$i\", \"v$i\")" >/dev/null || exit 1; echo "$i"; done"#
        );
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .arg(bin())
            .arg(&state)
            .arg(&id)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim().parse::<u64>().unwrap()).is_err() {
                    break;
                }
            }
        });
        // Let a few updates through, then kill at a random moment.
        let mut acked: Vec<u64> = Vec::new();
        let want = 2 + next(&mut seed) % 4;
        let start = Instant::now();
        while (acked.len() as u64) < want && start.elapsed() < Duration::from_secs(60) {
            if let Ok(i) = rx.recv_timeout(Duration::from_millis(50)) {
                acked.push(i);
            }
        }
        assert!(
            acked.len() as u64 >= want,
            "trial {trial}: the update stream did not start"
        );
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 60_000));
        // SAFETY: kill(2) on the child's own process group; no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.wait();
        // Wait until every process of the group is gone (the killed drydock holds the
        // directory lock until the kernel has torn it down).
        reap_group(pgid);
        reader.join().unwrap();
        acked.extend(rx.try_iter());

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
