//! `drydock canister snapshot create|list|restore|delete` as a user runs them: each test gets a
//! fresh state directory, runs commands and checks stdout, stderr and the exit code.

mod common;

use common::{test_canister, Drydock};

/// What the snapshot tests do with a drydock, on top of the shared helpers.
impl Drydock {
    /// A running kv canister.
    fn kv(&self) -> String {
        let id = self.create_canister();
        let kv = test_canister("kv.wasm");
        self.run(&["canister", "install", &id, kv.to_str().expect("utf-8 path")])
            .ok();
        id
    }

    fn put(&self, id: &str, key: &str, value: &str) {
        let arg = format!("({key:?}, {value:?})");
        assert_eq!(self.run(&["canister", "call", id, "put", &arg]).ok(), "()");
    }

    fn get(&self, id: &str, key: &str) -> String {
        self.run(&["canister", "call", id, "get", &format!("({key:?})")])
            .ok()
    }

    /// Takes a snapshot and returns its id.
    fn snapshot(&self, id: &str) -> String {
        self.run(&["canister", "snapshot", "create", id, "-q"]).ok()
    }
}

/// Lowercase hex of at least one byte.
fn is_hex_id(s: &str) -> bool {
    !s.is_empty() && hex::decode(s).is_ok() && s.to_lowercase() == s
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn is_utc_time(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 23
        && s.ends_with(" UTC")
        && b.iter().enumerate().take(19).all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// `123 B`, `1.5 KiB`, ...
fn is_binary_size(s: &str) -> bool {
    let Some((n, unit)) = s.split_once(' ') else {
        return false;
    };
    n.parse::<f64>().is_ok() && ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"].contains(&unit)
}

#[test]
fn restoring_a_snapshot_brings_back_the_old_values() {
    let d = Drydock::new();
    let id = d.kv();
    d.put(&id, "greeting", "hello");

    // A running canister can be snapshotted, as on the IC.
    let created = d.run(&["canister", "snapshot", "create", &id]).ok();
    let lines: Vec<&str> = created.lines().collect();
    assert_eq!(lines.len(), 3, "{created}");
    let snap = lines[0]
        .strip_prefix("Created snapshot ")
        .and_then(|rest| rest.strip_suffix(&format!(" for canister {id}")))
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    assert!(is_hex_id(&snap), "{snap}");
    let time = lines[1].strip_prefix("  Timestamp: ").expect("timestamp");
    assert!(is_utc_time(time), "{time}");
    let size = lines[2].strip_prefix("  Size: ").expect("size");
    assert!(is_binary_size(size), "{size}");

    d.put(&id, "greeting", "changed");
    d.put(&id, "new", "key");
    assert_eq!(d.get(&id, "greeting"), "(opt \"changed\")");

    let listed = d.run(&["canister", "snapshot", "list", &id]).ok();
    assert_eq!(
        listed,
        format!("Snapshots for canister {id}:\n  {snap}: {size}, taken at {time}")
    );

    let restored = d.run(&["canister", "snapshot", "restore", &id, &snap]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert!(restored.stdout.is_empty(), "{}", restored.stdout);
    assert_eq!(
        restored.stderr.trim_end(),
        format!("Restored canister {id} from snapshot {snap}")
    );
    assert_eq!(d.get(&id, "greeting"), "(opt \"hello\")");
    assert_eq!(d.get(&id, "new"), "(null)");

    // The snapshot is kept: restoring it again undoes later writes again.
    d.put(&id, "greeting", "again");
    d.run(&["canister", "snapshot", "restore", &id, &snap]).ok();
    assert_eq!(d.get(&id, "greeting"), "(opt \"hello\")");
    // And the canister takes updates after a restore.
    d.put(&id, "after", "restore");
    assert_eq!(d.get(&id, "after"), "(opt \"restore\")");

    let deleted = d.run(&["canister", "snapshot", "delete", &id, &snap]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert!(deleted.stdout.is_empty(), "{}", deleted.stdout);
    assert_eq!(
        deleted.stderr.trim_end(),
        format!("Deleted snapshot {snap} from canister {id}")
    );
    assert_eq!(
        d.run(&["canister", "snapshot", "list", &id]).ok(),
        format!("No snapshots found for canister {id}")
    );
    assert_eq!(
        d.get(&id, "greeting"),
        "(opt \"hello\")",
        "deleting changes no data"
    );
}

#[test]
fn snapshot_commands_print_json_and_quiet_output() {
    let d = Drydock::new();
    let id = d.kv();

    let empty = d
        .run(&["canister", "snapshot", "list", &id, "--json"])
        .json();
    assert_eq!(empty, serde_json::json!({ "snapshots": [] }));
    assert_eq!(d.run(&["canister", "snapshot", "list", &id, "-q"]).ok(), "");

    let first = d
        .run(&["canister", "snapshot", "create", &id, "--json"])
        .json();
    let fields: Vec<&str> = first
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["snapshot_id", "taken_at_timestamp", "total_size_bytes"],
        "{first}"
    );
    let first_id = first["snapshot_id"].as_str().expect("hex id").to_string();
    assert!(is_hex_id(&first_id), "{first}");
    assert!(
        first["taken_at_timestamp"].as_u64().is_some_and(|t| t > 0),
        "{first}"
    );
    assert!(
        first["total_size_bytes"].as_u64().is_some_and(|s| s > 0),
        "{first}"
    );

    d.put(&id, "k", "v");
    let second = d
        .run(&["canister", "snapshot", "create", &id, "--quiet"])
        .ok();
    assert!(is_hex_id(&second), "only the id: {second}");
    assert_ne!(second, first_id);

    let list = d
        .run(&["canister", "snapshot", "list", &id, "--json"])
        .json();
    let snapshots = list["snapshots"].as_array().expect("snapshots");
    assert_eq!(snapshots.len(), 2, "{list}");
    assert_eq!(snapshots[0], first, "list shows what create printed");
    let ids: Vec<&str> = snapshots
        .iter()
        .map(|s| s["snapshot_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [first_id.as_str(), second.as_str()]);
    assert_eq!(
        d.run(&["canister", "snapshot", "list", &id, "-q"]).ok(),
        format!("{first_id}\n{second}")
    );

    // --replace: the new snapshot takes the old one's place.
    let replaced = d
        .run(&[
            "canister",
            "snapshot",
            "create",
            &id,
            "--replace",
            &first_id,
            "-q",
        ])
        .ok();
    let ids = d.run(&["canister", "snapshot", "list", &id, "-q"]).ok();
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(!ids.contains(&first_id.as_str()), "{ids:?}");
    assert!(ids.contains(&second.as_str()) && ids.contains(&replaced.as_str()));

    // restore and delete: the message on stderr, the ids as JSON on stdout.
    let restore = d.run(&["canister", "snapshot", "restore", &id, &second, "--json"]);
    assert!(
        restore.stderr.contains("Restored canister"),
        "{}",
        restore.stderr
    );
    assert_eq!(
        restore.json(),
        serde_json::json!({ "canister_id": id, "snapshot_id": second })
    );
    let delete = d.run(&["--json", "canister", "snapshot", "delete", &id, &second]);
    assert!(
        delete.stderr.contains("Deleted snapshot"),
        "{}",
        delete.stderr
    );
    assert_eq!(
        delete.json(),
        serde_json::json!({ "canister_id": id, "snapshot_id": second })
    );
    assert_eq!(
        d.run(&["canister", "snapshot", "list", &id, "-q"]).ok(),
        replaced
    );

    // --quiet and --json contradict each other.
    for cmd in ["create", "list"] {
        let both = d.run(&["canister", "snapshot", cmd, &id, "-q", "--json"]);
        assert_eq!(both.code, 2, "{cmd}: {}", both.stderr);
    }
}

#[test]
fn a_snapshot_id_that_is_not_hex_is_a_usage_error() {
    let d = Drydock::new();
    let id = "5v3p4-iyaaa-aaaaa-qaaaa-cai";
    for (bad, problem) in [
        ("xyz1", "'x' at position 0 is not a hex digit"),
        ("abc", "odd number of hex digits"),
        ("0x00", "'x' at position 1 is not a hex digit"),
        ("", "it is empty"),
    ] {
        for args in [
            vec!["canister", "snapshot", "restore", id, bad],
            vec!["canister", "snapshot", "delete", id, bad],
            vec!["canister", "snapshot", "create", id, "--replace", bad],
        ] {
            let stderr = d.run(&args).fails(2);
            assert!(
                stderr.contains(&format!("invalid snapshot id `{bad}`"))
                    && stderr.contains(problem),
                "{args:?}: {stderr}"
            );
        }
    }
    assert!(
        !d.state().exists(),
        "a usage error is found before the state directory is touched"
    );
}

#[test]
fn an_unknown_snapshot_id_is_rejected_with_exit_1() {
    let d = Drydock::new();
    let id = d.kv();
    d.put(&id, "k", "v");
    let taken = d.snapshot(&id);
    // A well-formed id of this canister (another local id), and bytes that are no id at all.
    let unknown = format!("{:016x}{}", 999, &taken[16..]);
    let garbage = "00112233445566778899".to_string();
    for snap in [&unknown, &garbage] {
        for args in [
            vec!["canister", "snapshot", "restore", &id, snap],
            vec!["canister", "snapshot", "delete", &id, snap],
            vec!["canister", "snapshot", "create", &id, "--replace", snap],
        ] {
            let stderr = d.run(&args).fails(1);
            assert!(stderr.starts_with("Error: IC0"), "{args:?}: {stderr}");
            assert!(
                stderr.contains(snap.as_str()) && stderr.to_lowercase().contains("snapshot"),
                "the message names the snapshot: {args:?}: {stderr}"
            );
        }
    }
    // Nothing changed.
    assert_eq!(
        d.run(&["canister", "snapshot", "list", &id, "-q"]).ok(),
        taken
    );
    assert_eq!(d.get(&id, "k"), "(opt \"v\")");
}

#[test]
fn a_non_controller_cannot_take_list_restore_or_delete_snapshots() {
    let d = Drydock::new();
    let id = d.kv();
    let snap = d.snapshot(&id);
    d.run(&["identity", "new", "mallory"]).ok();
    for args in [
        vec!["canister", "snapshot", "create", &id],
        vec!["canister", "snapshot", "list", &id],
        vec!["canister", "snapshot", "restore", &id, &snap],
        vec!["canister", "snapshot", "delete", &id, &snap],
    ] {
        let mut args = args;
        args.extend(["--identity", "mallory"]);
        let stderr = d.run(&args).fails(1);
        assert!(stderr.starts_with("Error: IC0512: "), "{args:?}: {stderr}");
    }
    assert_eq!(
        d.run(&["canister", "snapshot", "list", &id, "-q"]).ok(),
        snap,
        "the refused calls changed nothing"
    );
}

#[test]
fn snapshots_of_an_unknown_canister_are_rejected() {
    let d = Drydock::new();
    let stderr = d
        .run(&[
            "canister",
            "snapshot",
            "create",
            "5v3p4-iyaaa-aaaaa-qaaaa-cai",
        ])
        .fails(1);
    assert!(stderr.contains("IC0301"), "{stderr}");
    let stderr = d
        .run(&["canister", "snapshot", "list", "not-a-principal"])
        .fails(2);
    assert!(stderr.contains("invalid canister id"), "{stderr}");
}
