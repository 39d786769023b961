//! Smoke tests of the `drydock` binary as a user runs it: each test gets a fresh state
//! directory, runs commands and checks stdout, stderr and the exit code.

mod common;

use common::{test_canister, Drydock};

#[test]
fn identities_are_created_listed_and_have_stable_principals() {
    let d = Drydock::new();
    let alice = d.run(&["identity", "new", "alice"]).ok();
    let principal = candid::Principal::from_text(&alice).expect("a principal");
    assert_eq!(
        principal.as_slice().last(),
        Some(&0x02),
        "self-authenticating"
    );
    assert_eq!(d.run(&["identity", "principal", "alice"]).ok(), alice);
    assert_eq!(
        d.run(&["--identity", "alice", "identity", "principal"])
            .ok(),
        alice
    );

    let list = d.run(&["identity", "list"]).ok();
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(
        names,
        ["alice", "default"],
        "the default identity exists from first use"
    );

    let default = d.run(&["identity", "principal"]).ok();
    assert_ne!(default, alice);
    assert_eq!(d.run(&["identity", "principal", "default"]).ok(), default);

    let again = d.run(&["identity", "new", "alice"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let unknown = d.run(&["identity", "principal", "bob"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("drydock identity new bob"),
        "{}",
        unknown.stderr
    );

    let json = d.run(&["identity", "list", "--json"]).json();
    assert_eq!(json["identities"][0]["principal"], alice.as_str());
}

#[cfg(unix)]
#[test]
fn identity_keys_are_private_pem_files() {
    use std::os::unix::fs::PermissionsExt;
    let d = Drydock::new();
    d.run(&["identity", "new", "carol"]).ok();
    let path = d.state().join("identities/carol.pem");
    let pem = std::fs::read_to_string(&path).expect("pem");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_created_canister_is_listed_and_reports_its_status() {
    let d = Drydock::new();
    let me = d.run(&["identity", "principal"]).ok();
    let created = d
        .run(&["canister", "create", "--json", "--cycles", "1234"])
        .json();
    let id = created["canister_id"]
        .as_str()
        .expect("canister_id")
        .to_string();

    assert_eq!(d.run(&["canister", "list"]).ok(), id);

    let status = d.run(&["canister", "status", &id, "--json"]).json();
    assert_eq!(status["status"], "running");
    assert_eq!(status["module_hash"], serde_json::Value::Null);
    assert_eq!(status["controllers"], serde_json::json!([me]));
    assert_eq!(status["cycles"], 1234);
    assert!(status["wasm_memory_limit"].is_u64());

    let text = d.run(&["canister", "status", &id]).ok();
    assert!(text.contains("Status: running"), "{text}");
}

#[test]
fn extra_controllers_join_the_creator() {
    let d = Drydock::new();
    let bob = d.run(&["identity", "new", "bob"]).ok();
    let id = d.run(&["canister", "create", "--controller", &bob]).ok();
    let status = d
        .run(&["--identity", "bob", "canister", "status", &id, "--json"])
        .json();
    assert_eq!(status["controllers"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_non_controller_is_refused_status_with_exit_1() {
    let d = Drydock::new();
    let id = d.create_canister();
    d.run(&["identity", "new", "mallory"]).ok();
    let r = d.run(&["canister", "status", &id, "--identity", "mallory"]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(r.stderr.starts_with("Error: IC0512: "), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn stop_start_and_delete_follow_the_ic_rules() {
    let d = Drydock::new();
    let id = d.create_canister();
    let running = d.run(&["canister", "delete", &id]);
    assert_eq!(running.code, 1);
    assert!(running.stderr.contains("IC0510"), "{}", running.stderr);
    d.run(&["canister", "stop", &id]).ok();
    assert_eq!(
        d.run(&["canister", "status", &id, "--json"]).json()["status"],
        "stopped"
    );
    d.run(&["canister", "delete", &id]).ok();
    assert_eq!(d.run(&["canister", "list"]).ok(), "");
    let gone = d.run(&["canister", "status", &id]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("IC0301"), "{}", gone.stderr);
}

#[test]
fn malformed_candid_is_a_usage_error() {
    let d = Drydock::new();
    let id = d.create_canister();
    let r = d.run(&["canister", "call", &id, "get", "(\"unclosed"]);
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(r.stderr.contains("malformed Candid"), "{}", r.stderr);
}

#[test]
fn usage_errors_exit_with_2() {
    let d = Drydock::new();
    assert_eq!(d.run(&["canister", "frobnicate"]).code, 2);
    assert_eq!(d.run(&["frobnicate"]).code, 2);
    assert_eq!(d.run(&["canister", "status", "not-a-principal"]).code, 2);
    let id = d.create_canister();
    let missing = d.run(&["canister", "install", &id, "/no/such/file.wasm"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("/no/such/file.wasm"),
        "{}",
        missing.stderr
    );
    let flags = d.run(&[
        "canister",
        "install",
        &id,
        "/no/such/file.wasm",
        "--skip-pre-upgrade",
    ]);
    assert_eq!(flags.code, 2);
    assert!(
        flags.stderr.contains("only valid with --mode upgrade"),
        "{}",
        flags.stderr
    );
    assert_eq!(d.run(&["canister", "list", "--identity", "nobody"]).code, 2);
}

#[test]
fn install_and_call_kv_canister() {
    let kv = test_canister("kv.wasm");
    let kv = kv.to_str().expect("utf-8 path");
    let d = Drydock::new();
    let id = d.create_canister();
    d.run(&["canister", "install", &id, kv]).ok();

    assert_eq!(
        d.run(&["canister", "call", &id, "put", "(\"greeting\", \"hello\")"])
            .ok(),
        "()"
    );
    assert_eq!(
        d.run(&["canister", "call", &id, "get", "(\"greeting\")"])
            .ok(),
        "(opt \"hello\")"
    );
    assert_eq!(
        d.run(&["canister", "call", &id, "get", "(\"other\")"]).ok(),
        "(null)"
    );
    assert_eq!(
        d.run(&["canister", "call", &id, "version"]).ok(),
        "(\"v1\")"
    );
    assert_eq!(
        d.run(&["canister", "call", &id, "version", "--update"])
            .ok(),
        "(\"v1\")"
    );
    assert_eq!(
        d.run(&[
            "canister",
            "call",
            &id,
            "get",
            "(\"greeting\")",
            "--output",
            "json"
        ])
        .ok(),
        "[\"hello\"]"
    );

    let json = d
        .run(&["canister", "call", &id, "get", "(\"greeting\")", "--json"])
        .json();
    assert_eq!(json["reply"], "(opt \"hello\")");
    assert!(json["reply_hex"]
        .as_str()
        .is_some_and(|h| h.starts_with("4449444c")));

    // The argument is typed by the canister's candid:service.
    let wrong = d.run(&["canister", "call", &id, "get", "(42)"]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);

    let status = d.run(&["canister", "status", &id, "--json"]).json();
    assert_eq!(status["module_hash"].as_str().map(str::len), Some(64));

    let sections = d.run(&["canister", "metadata", &id]).ok();
    assert!(
        sections.lines().any(|l| l == "public candid:service"),
        "{sections}"
    );
    let did = d.run(&["canister", "metadata", &id, "candid:service"]).ok();
    assert!(did.contains("service"), "{did}");

    let trapped = d.run(&["canister", "call", &id, "trap_after_write", "(\"x\")"]);
    assert_eq!(trapped.code, 1, "{}", trapped.stderr);
    assert!(
        trapped
            .stderr
            .lines()
            .any(|l| l.starts_with("Error: IC0503"))
            && trapped
                .stderr
                .contains("] [TRAP]: Canister called `ic0.trap` with message: 'boom'"),
        "{}",
        trapped.stderr
    );
    assert_eq!(
        d.run(&["canister", "call", &id, "get", "(\"x\")"]).ok(),
        "(null)",
        "the trap rolled back the write"
    );

    let again = d.run(&["canister", "install", &id, kv]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("IC0514"), "{}", again.stderr);

    let limited = d.run(&[
        "--update-instruction-limit",
        "1000000",
        "canister",
        "call",
        &id,
        "loop_forever",
    ]);
    assert_eq!(limited.code, 1);
    assert!(limited.stderr.contains("IC0522"), "{}", limited.stderr);
}

#[test]
fn installing_over_an_installed_canister_keeps_the_ic_text_and_names_the_flag() {
    let kv = test_canister("kv.wasm");
    let kv = kv.to_str().expect("utf-8 path");
    let d = Drydock::new();
    let id = d.create_canister();
    d.run(&["canister", "install", &id, kv]).ok();
    let err = d.run(&["canister", "install", &id, kv]).fails(1);
    // The IC's own code and words first, unchanged.
    let ic_text = format!(
        "IC0514: Canister {id} cannot be installed because the canister is not empty. Try installing with mode='reinstall' instead."
    );
    assert!(err.contains(&ic_text), "{err}");
    // Then drydock's hint, after it, with the command line to type.
    let hint = err
        .find("\nhint: ")
        .unwrap_or_else(|| panic!("no hint in: {err}"));
    assert!(hint > err.find(&ic_text).expect("the IC text"), "{err}");
    assert!(
        err[hint..].contains(&format!(
            "drydock canister install {id} {kv} --mode reinstall"
        )),
        "{err}"
    );
    assert!(
        err[hint..].contains(&format!("drydock canister upgrade {id} {kv}")),
        "{err}"
    );
    // And the flag it names works.
    d.run(&["canister", "install", &id, kv, "--mode", "reinstall"])
        .ok();
}

/// The options a help text lists, e.g. `--state-dir`, in order: the lines that start with
/// `-` (`  -q, --quiet`, `      --json`).
fn options(help: &str) -> Vec<String> {
    help.lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| {
            w.trim_end_matches(',')
                .split('=')
                .next()
                .unwrap_or(w)
                .to_string()
        })
        .collect()
}

#[test]
fn help_of_a_subcommand_lists_only_the_global_options_that_apply_there() {
    let d = Drydock::new();
    let top = d.run(&["--help"]).ok();
    for global in [
        "--state-dir",
        "--identity",
        "--json",
        "--network",
        "--root-key",
        "--update-instruction-limit",
        "--query-instruction-limit",
        "--install-instruction-limit",
        "--inspect-instruction-limit",
    ] {
        assert!(
            options(&top).iter().any(|o| o == global),
            "drydock --help lacks {global}:\n{top}"
        );
    }

    let call = d.run(&["canister", "call", "--help"]).ok();
    let listed = options(&call);
    for shown in ["--state-dir", "--identity", "--json", "--query", "--async"] {
        assert!(
            listed.iter().any(|o| o == shown),
            "{shown} missing:\n{call}"
        );
    }
    for hidden in ["--update-instruction-limit", "--inspect-instruction-limit"] {
        assert!(
            !listed.iter().any(|o| o == hidden),
            "{hidden} listed:\n{call}"
        );
    }
    // `call` works over a network; `create` does not (the IC has no provisional creation).
    assert!(listed.iter().any(|o| o == "--network"), "{call}");
    let create = d.run(&["canister", "create", "--help"]).ok();
    for hidden in ["--network", "--root-key"] {
        assert!(
            !options(&create).iter().any(|o| o == hidden),
            "{hidden} listed:\n{create}"
        );
    }
    assert!(
        call.contains("drydock --help"),
        "it says where the rest are:\n{call}"
    );

    // --network works only for the commands that have a network form, so only those list it.
    let download = d.run(&["canister", "snapshot", "download", "--help"]).ok();
    let listed = options(&download);
    assert!(listed.iter().any(|o| o == "--network"), "{download}");
    assert!(listed.iter().any(|o| o == "--root-key"), "{download}");
    assert!(
        !listed.iter().any(|o| o == "--query-instruction-limit"),
        "{download}"
    );

    // Hidden options are still accepted where they were before.
    d.run(&[
        "canister",
        "list",
        "--update-instruction-limit",
        "1000000000",
    ])
    .ok();
    let refused = d.run(&["canister", "list", "--network", "http://127.0.0.1:9"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let status = d.run(&["canister", "status", "--help"]).ok();
    assert!(
        options(&status).iter().any(|o| o == "--network"),
        "{status}"
    );
    let list = d.run(&["canister", "list", "--help"]).ok();
    assert!(!options(&list).iter().any(|o| o == "--network"), "{list}");
}

#[test]
fn snapshot_help_names_all_six_snapshot_commands() {
    let d = Drydock::new();
    for args in [
        &["canister", "snapshot", "-h"][..],
        &["canister", "--help"][..],
    ] {
        let help = d.run(args).ok();
        let about = help
            .lines()
            .find(|l| l.contains("Create, list, restore"))
            .unwrap_or_else(|| panic!("no snapshot summary in:\n{help}"));
        for verb in ["create", "list", "restore", "delete", "download", "upload"] {
            assert!(
                about.to_lowercase().contains(verb),
                "{verb} missing from {about:?}"
            );
        }
    }
}
