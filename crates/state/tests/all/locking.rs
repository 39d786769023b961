//! One store per directory at a time.

use drydock_state::{StateError, Store};

use crate::support::fast_tempdir;

#[test]
fn second_open_of_a_locked_dir_fails_with_locked() {
    let dir = fast_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    match &err {
        StateError::Locked { dir: locked } => assert_eq!(locked, dir.path()),
        other => panic!("expected Locked, got {other}"),
    }
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    drop(store);
}

#[test]
fn dir_opens_again_once_the_store_is_dropped() {
    let dir = fast_tempdir();
    let store = Store::open(dir.path()).unwrap();
    drop(store);
    let _again = Store::open(dir.path()).unwrap();
}

#[test]
fn a_lock_held_by_another_process_is_respected() {
    // `flock` from a child process (the shell's flock(1) if present).
    let dir = fast_tempdir();
    std::fs::write(dir.path().join("LOCK"), b"").unwrap();
    let Ok(mut child) = std::process::Command::new("flock")
        .arg(dir.path().join("LOCK"))
        .args(["sleep", "5"])
        .spawn()
    else {
        return; // no flock(1) on this machine; the in-process test covers the logic
    };
    // Wait until the child holds the lock.
    let mut result = None;
    for _ in 0..100 {
        match Store::open(dir.path()) {
            Err(StateError::Locked { .. }) => {
                result = Some(());
                break;
            }
            Ok(store) => drop(store),
            Err(other) => panic!("{other}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        result.is_some(),
        "the store never saw the other process's lock"
    );
}

#[test]
fn a_store_can_be_moved_to_and_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<drydock_state::MemoryFile>();
    let dir = fast_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let store = std::thread::spawn(move || store).join().unwrap();
    assert_eq!(store.dir(), dir.path());
}
