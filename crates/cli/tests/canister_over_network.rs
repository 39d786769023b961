//! `drydock --network URL canister status|stop|start|delete` against `drydock start`: the
//! same commands as on the state directory, through ic-agent (replies verified against the
//! fetched root key), while the server holds the directory.

mod common;

use common::{Drydock, Run};

fn status_json(run: Run) -> serde_json::Value {
    let v = run.json();
    assert!(v["canister_id"].is_string(), "{v}");
    v
}

// Interface spec, "IC method stop_canister", "start_canister", "canister_status" and
// "delete_canister": a controller manages its canister over the network as on the state
// directory; what only the embedded replica sees (open call contexts) is left out.
#[test]
fn a_controller_stops_starts_inspects_and_deletes_a_canister_over_the_network() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("kv.wasm");
    let local = d.run(&["canister", "status", &id]).ok();
    assert!(local.contains("Open call contexts: 0"), "{local}");
    let server = d.serve();
    for _ in 0..2 {
        let text = server.run(&["canister", "status", &id]).ok();
        assert!(text.contains("Status: running"), "{text}");
        assert!(text.contains("Module hash: 0x"), "{text}");
        assert!(
            !text.contains("Open call contexts"),
            "not known over the network: {text}"
        );
        let v = status_json(server.run(&["--json", "canister", "status", &id]));
        assert_eq!(v["status"], "running");
        assert!(v.get("open_call_contexts").is_none(), "{v}");
    }
    for _ in 0..2 {
        let run = server.run(&["canister", "stop", &id]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("Stopped {id}")),
            "{}",
            run.stderr
        );
        let v = status_json(server.run(&["--json", "canister", "status", &id]));
        assert_eq!(v["status"], "stopped");
    }
    for _ in 0..2 {
        server.run(&["canister", "start", &id]).ok();
        let v = status_json(server.run(&["--json", "canister", "status", &id]));
        assert_eq!(v["status"], "running");
    }
    // --no-wait has no IC equivalent: the stop call answers when the canister has stopped.
    let err = server.run(&["canister", "stop", &id, "--no-wait"]).fails(2);
    assert!(err.contains("--no-wait"), "{err}");
    // Another identity is no controller: the IC's reject, exit code 1.
    for _ in 0..2 {
        let err = server
            .run_with(&["--identity", "anonymous"], &["canister", "status", &id])
            .fails(1);
        assert!(err.contains("controller"), "{err}");
    }
    // A running canister cannot be deleted (IC0510); a stopped one can, once.
    let err = server.run(&["canister", "delete", &id]).fails(1);
    assert!(err.contains("stopped"), "{err}");
    server.run(&["canister", "stop", &id]).ok();
    let run = server.run(&["canister", "delete", &id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("Deleted canister {id}")),
        "{}",
        run.stderr
    );
    for _ in 0..2 {
        server.run(&["canister", "status", &id]).fails(1);
    }
    drop(server);
    // The state directory agrees.
    d.run(&["canister", "status", &id]).fails(1);
}

#[test]
fn commands_without_a_network_form_are_refused_with_the_list_of_those_that_have_one() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("kv.wasm");
    let server = d.serve();
    for _ in 0..2 {
        let err = server.run(&["canister", "list"]).fails(2);
        assert!(
            err.contains("`canister create`, `status`, `start`, `stop`, `delete`"),
            "{err}"
        );
    }
    // hotfix has no IC equivalent: it says so, and what to do on the IC instead.
    for _ in 0..2 {
        let err = server.run(&["canister", "hotfix", &id, "x.wasm"]).fails(2);
        assert!(err.contains("offers no way to do"), "{err}");
        assert!(err.contains("--skip-pre-upgrade"), "{err}");
    }
}

// Interface spec, "Canister information" (the state tree's `canister/<id>/controllers`,
// `module_hash` and `metadata/<name>`): `info` and `metadata` read them over the network; the
// history `info` shows locally comes from `canister_info`, which only canisters may call.
#[test]
fn info_and_metadata_are_read_from_the_state_tree_over_the_network() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("kv.wasm");
    let empty = d.create_canister();
    let local_info = d.run(&["canister", "info", &id]).ok();
    let local_candid = d.run(&["canister", "metadata", &id, "candid:service"]).ok();
    assert!(local_info.contains("Total changes: 2"), "{local_info}");
    let server = d.serve();
    for _ in 0..2 {
        let info = server.run(&["canister", "info", &id]).ok();
        let wanted: Vec<&str> = local_info
            .lines()
            .filter(|l| l.starts_with("Controllers:") || l.starts_with("Module hash:"))
            .collect();
        assert_eq!(info.lines().collect::<Vec<_>>(), wanted, "{info}");
        let v = server.run(&["--json", "canister", "info", &empty]).json();
        assert_eq!(v["module_hash"], serde_json::Value::Null, "{v}");
        assert_eq!(v["controllers"].as_array().map(Vec::len), Some(1), "{v}");
        assert!(v.get("total_num_changes").is_none(), "{v}");
        assert_eq!(
            server
                .run(&["canister", "metadata", &id, "candid:service"])
                .ok(),
            local_candid
        );
        let err = server
            .run(&["canister", "metadata", &id, "no:such"])
            .fails(2);
        assert!(err.contains("no metadata section `no:such`"), "{err}");
    }
    let err = server.run(&["canister", "metadata", &id]).fails(2);
    assert!(err.contains("name the section"), "{err}");
}

// Interface spec, "IC method fetch_canister_logs" (a query to the management canister): the
// log a canister keeps in the state directory is read over the network, with the same lines.
#[test]
fn canister_logs_are_read_over_the_network() {
    let d = Drydock::new();
    let (a, _) = d.with_test_canister("pingpong.wasm");
    for _ in 0..2 {
        let err = d.run(&["canister", "call", &a, "trap_now"]).fails(1);
        assert!(err.contains("pingpong: trap_now"), "{err}");
    }
    let local = d.run(&["canister", "logs", &a]).ok();
    assert_eq!(
        local.lines().filter(|l| l.contains("[TRAP]")).count(),
        2,
        "{local}"
    );
    let server = d.serve();
    for _ in 0..2 {
        assert_eq!(server.run(&["canister", "logs", &a]).ok(), local);
        let json = server.run(&["--json", "canister", "logs", &a]).ok();
        assert!(
            json.contains("\"idx\":1") || json.contains("\"idx\": 1"),
            "{json}"
        );
    }
    // The logs are for controllers (the default `log_visibility`).
    let err = server
        .run_with(&["--identity", "anonymous"], &["canister", "logs", &a])
        .fails(1);
    assert!(err.contains("log"), "{err}");
}

// `canister install` and `canister call` over the network: the argument typed and the method's
// mode chosen by the canister's Candid, as on the state directory; the IC's rejects as exit 1.
#[test]
fn a_controller_installs_and_calls_a_canister_over_the_network() {
    let d = Drydock::new();
    let id = d.create_canister();
    let server = d.serve();
    let kv = common::test_canister("kv.wasm");
    let run = server.run(&["--json", "canister", "install", &id, kv.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["module_hash"].as_str().map(str::len), Some(64), "{v}");
    // Installed once: a second install is refused by the IC (IC0538 / non-empty canister).
    let err = server
        .run(&["canister", "install", &id, kv.to_str().unwrap()])
        .fails(1);
    assert!(err.contains("--mode reinstall"), "{err}");
    for n in 0..2 {
        server
            .run(&[
                "canister",
                "call",
                &id,
                "put",
                &format!("(\"k{n}\", \"v\")"),
            ])
            .ok();
    }
    for _ in 0..2 {
        assert_eq!(
            server
                .run(&["canister", "call", &id, "get", "(\"k1\")"])
                .ok(),
            "(opt \"v\")"
        );
        assert_eq!(
            server
                .run(&["canister", "call", &id, "get", "(\"k1\")", "--update"])
                .ok(),
            "(opt \"v\")"
        );
        let err = server.run(&["canister", "call", &id, "no_such"]).fails(1);
        assert!(err.contains("no_such"), "{err}");
    }
    let err = server
        .run(&["canister", "call", &id, "get", "(\"k\")", "--async"])
        .fails(2);
    assert!(err.contains("--async"), "{err}");
    drop(server);
    assert_eq!(
        d.run(&["canister", "call", &id, "get", "(\"k0\")"]).ok(),
        "(opt \"v\")"
    );
}

// The IC has no `provisional_create_canister_with_cycles`: over a network `canister create`
// buys the canister from the caller's cycles through the cycles ledger's `create_canister`,
// as icp-cli does, which works on `drydock start` and on the IC alike.
#[test]
fn a_canister_is_bought_from_the_cycles_ledger_over_the_network() {
    let d = Drydock::new();
    let me = d.run(&["identity", "principal"]).ok();
    let server = d.serve();
    // A new identity holds no cycles: the ledger's refusal, with the way out; nothing created.
    for _ in 0..2 {
        let err = server.run(&["canister", "create"]).fails(1);
        assert!(err.contains("has 0 cycles"), "{err}");
        assert!(err.contains("nothing was created"), "{err}");
    }
    // The anonymous identity holds a local network's cycles; it buys two canisters for `me`.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let run = server.run_with(
            &["--identity", "anonymous"],
            &["--json", "canister", "create", "--controller", &me],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("from the cycles ledger"),
            "{}",
            run.stderr
        );
        let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
        ids.push(v["canister_id"].as_str().expect("an id").to_string());
    }
    assert_ne!(ids[0], ids[1]);
    let kv = common::test_canister("kv.wasm");
    for id in &ids {
        // `me` controls it: it installs and calls it.
        server
            .run(&["canister", "install", id, kv.to_str().unwrap()])
            .ok();
        server
            .run(&["canister", "call", id, "put", "(\"k\", \"v\")"])
            .ok();
        assert_eq!(
            server.run(&["canister", "call", id, "get", "(\"k\")"]).ok(),
            "(opt \"v\")"
        );
        let v = status_json(server.run(&["--json", "canister", "status", id]));
        let cycles = v["cycles"]
            .as_u64()
            .or_else(|| v["cycles"].as_str().and_then(|c| c.parse().ok()));
        assert!(
            cycles.is_some_and(|c| c > 0 && c <= 2_000_000_000_000),
            "{v}"
        );
    }
}
