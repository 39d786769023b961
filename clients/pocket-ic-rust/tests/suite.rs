//! The `pocket-ic` crate's documented usage, against the server POCKET_IC_BIN names (drydock,
//! in scripts/test.sh), with the repo's canisters: Rust `kv` and `pingpong`, Motoko
//! `counter_eop`. Each test makes its own instance, as PocketIC suites do.

use std::path::PathBuf;
use std::time::Duration;

use candid::{decode_one, encode_args, encode_one, Principal};
use pocket_ic::{ErrorCode, PocketIc, PocketIcBuilder, RejectCode};

/// A canister built by `scripts/build-test-canisters.sh` (TEST_CANISTERS_OUT, or the
/// repository's target/test-canisters); a missing one fails the test.
fn wasm(name: &str) -> Vec<u8> {
    assert!(
        std::env::var_os("POCKET_IC_BIN").is_some(),
        "POCKET_IC_BIN is not set: point it at the drydock binary (scripts/test.sh does)"
    );
    let dir = std::env::var_os("TEST_CANISTERS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-canisters")
        });
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/build-test-canisters.sh first)",
            path.display()
        )
    })
}

fn install(pic: &PocketIc, name: &str) -> Principal {
    let id = pic.create_canister();
    pic.add_cycles(id, 2_000_000_000_000);
    pic.install_canister(id, wasm(name), encode_args(()).unwrap(), None);
    id
}

fn update<T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    pic: &PocketIc,
    id: Principal,
    method: &str,
    arg: Vec<u8>,
) -> T {
    let reply = pic
        .update_call(id, Principal::anonymous(), method, arg)
        .unwrap_or_else(|e| panic!("{method}: {e}"));
    decode_one(&reply).unwrap()
}

fn query<T: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    pic: &PocketIc,
    id: Principal,
    method: &str,
    arg: Vec<u8>,
) -> T {
    let reply = pic
        .query_call(id, Principal::anonymous(), method, arg)
        .unwrap_or_else(|e| panic!("{method}: {e}"));
    decode_one(&reply).unwrap()
}

#[test]
fn a_rust_canister_is_created_installed_and_called() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    assert_eq!(
        kv.to_text(),
        "lxzze-o7777-77777-aaaaa-cai",
        "the first canister gets PocketIC's first id"
    );
    assert!(pic.canister_exists(kv));
    for round in 0..3 {
        let key = format!("k{round}");
        let () = update(&pic, kv, "put", encode_args((&key, "v")).unwrap());
        let got: Option<String> = query(&pic, kv, "get", encode_one(&key).unwrap());
        assert_eq!(got.as_deref(), Some("v"));
        let len: u64 = query(&pic, kv, "len", encode_args(()).unwrap());
        assert_eq!(len, round + 1);
    }
    assert_eq!(
        pic.get_controllers(kv),
        vec![Principal::anonymous()],
        "the creator controls the canister"
    );
}

#[test]
fn a_trap_is_rejected_with_the_ic_codes() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    for _ in 0..2 {
        let err = pic
            .update_call(
                kv,
                Principal::anonymous(),
                "trap_after_write",
                encode_one("x").unwrap(),
            )
            .unwrap_err();
        assert_eq!(err.reject_code, RejectCode::CanisterError);
        assert_eq!(err.error_code, ErrorCode::CanisterCalledTrap);
        let got: Option<String> = query(&pic, kv, "get", encode_one("x").unwrap());
        assert_eq!(got, None, "the trapped update changed nothing");
    }
    let err = pic
        .update_call(
            kv,
            Principal::anonymous(),
            "no_such_method",
            encode_args(()).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.error_code, ErrorCode::CanisterMethodNotFound);
}

#[test]
fn a_motoko_canister_keeps_its_state_across_an_upgrade() {
    let pic = PocketIc::new();
    let counter = install(&pic, "counter_eop");
    for expected in 1..=3u64 {
        let n: candid::Nat = update(&pic, counter, "inc", encode_args(()).unwrap());
        assert_eq!(n, candid::Nat::from(expected));
    }
    // A query method called as an update keeps nothing, and the canister stays healthy.
    for _ in 0..2 {
        let n: candid::Nat = update(&pic, counter, "get", encode_args(()).unwrap());
        assert_eq!(n, candid::Nat::from(3u64));
    }
    pic.upgrade_eop_canister(
        counter,
        wasm("counter_eop_v2"),
        encode_args(()).unwrap(),
        None,
    )
    .unwrap();
    let n: candid::Nat = query(&pic, counter, "get", encode_args(()).unwrap());
    assert_eq!(
        n,
        candid::Nat::from(3u64),
        "the EOP upgrade kept the counter"
    );
}

#[test]
fn canisters_call_each_other_through_the_instance() {
    let pic = PocketIc::new();
    let a = install(&pic, "pingpong");
    let b = install(&pic, "pingpong");
    let c = install(&pic, "pingpong");
    for _ in 0..2 {
        let text: String = update(&pic, a, "chain", encode_one(vec![b, c]).unwrap());
        assert!(!text.is_empty(), "the chain answered: {text}");
    }
    let back: u32 = update(&pic, a, "fan_out", encode_args((b, 20u32)).unwrap());
    assert_eq!(back, 20);
}

#[test]
fn time_moves_when_the_test_moves_it_and_timers_fire() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    let t0 = pic.get_time();
    pic.advance_time(Duration::from_secs(3600));
    assert!(pic.get_time() >= t0 + Duration::from_secs(3600));
    let _: u64 = update(&pic, kv, "set_timer", encode_one(10u64).unwrap());
    pic.tick();
    let fired: u64 = query(&pic, kv, "timer_fired", encode_args(()).unwrap());
    assert_eq!(fired, 0, "the timer waits for its time");
    pic.advance_time(Duration::from_secs(11));
    pic.tick();
    pic.tick();
    let fired: u64 = query(&pic, kv, "timer_fired", encode_args(()).unwrap());
    assert!(fired >= 1, "the timer fired once its time came");
}

#[test]
fn cycles_are_added_and_read() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    let before = pic.cycle_balance(kv);
    let after = pic.add_cycles(kv, 1_000_000);
    assert_eq!(after, before + 1_000_000);
    assert_eq!(pic.cycle_balance(kv), after);
}

#[test]
fn submitted_calls_are_awaited_and_their_status_read() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    let ids: Vec<_> = (0..5)
        .map(|i| {
            pic.submit_call(
                kv,
                Principal::anonymous(),
                "put",
                encode_args((format!("s{i}"), "v")).unwrap(),
            )
            .unwrap()
        })
        .collect();
    for id in ids {
        pic.await_call(id.clone()).unwrap();
        assert!(matches!(pic.ingress_status(id), Some(Ok(_))));
    }
    let len: u64 = query(&pic, kv, "len", encode_args(()).unwrap());
    assert_eq!(len, 5);
}

#[test]
fn a_topology_drydock_cannot_serve_is_refused_with_a_clear_error() {
    // Touch POCKET_IC_BIN's check first, so a missing variable fails with its own message.
    let _ = wasm("kv");
    let refused = std::panic::catch_unwind(|| {
        PocketIcBuilder::new()
            .with_nns_subnet()
            .with_application_subnet()
            .build()
    });
    let message = match refused {
        Ok(_) => panic!("an NNS subnet was accepted"),
        Err(e) => e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    };
    assert!(
        message.contains("NNS subnet"),
        "the error names what is unsupported: {message}"
    );
}

#[test]
fn instances_are_listed_and_deleted() {
    let _ = wasm("kv");
    let pic = PocketIc::new();
    let url = pic.get_server_url();
    drop(pic);
    // A second instance on the same server works after the first was deleted.
    let pic = PocketIcBuilder::new()
        .with_application_subnet()
        .with_server_url(url)
        .build();
    let kv = install(&pic, "kv");
    let () = update(&pic, kv, "noop", encode_args(()).unwrap());
    let listed = PocketIc::list_instances();
    assert!(listed.iter().any(|s| s == "Deleted"), "{listed:?}");
}

#[test]
fn a_canister_lives_its_whole_life_through_the_management_canister() {
    let pic = PocketIc::new();
    let me = Principal::from_slice(&[7; 29]);
    // An id in the subnet's range, not the first (which `create_canister` hands out).
    let first = Principal::from_text("lxzze-o7777-77777-aaaaa-cai").unwrap();
    let mut bytes = first.as_slice().to_vec();
    bytes[7] = 100;
    let wanted = Principal::from_slice(&bytes);
    let id = pic
        .create_canister_with_id(Some(me), None, wanted)
        .expect("a specified id");
    assert_eq!(id, wanted);
    assert_eq!(pic.get_controllers(id), vec![me]);
    pic.install_canister(id, wasm("kv"), encode_args(()).unwrap(), Some(me));
    let () = update(&pic, id, "put", encode_args(("a", "1")).unwrap());

    // Somebody else is not a controller.
    let err = pic.stop_canister(id, None).unwrap_err();
    assert_eq!(err.error_code, ErrorCode::CanisterInvalidController);

    pic.stop_canister(id, Some(me)).unwrap();
    let status = pic.canister_status(id, Some(me)).unwrap();
    assert_eq!(format!("{:?}", status.status), "Stopped");
    let err = pic
        .update_call(id, Principal::anonymous(), "noop", encode_args(()).unwrap())
        .unwrap_err();
    assert_eq!(err.error_code, ErrorCode::CanisterStopped);
    pic.start_canister(id, Some(me)).unwrap();

    pic.reinstall_canister(id, wasm("kv"), encode_args(()).unwrap(), Some(me))
        .unwrap();
    let got: Option<String> = query(&pic, id, "get", encode_one("a").unwrap());
    assert_eq!(got, None, "a reinstall starts afresh");

    pic.uninstall_canister(id, Some(me)).unwrap();
    let err = pic
        .update_call(id, Principal::anonymous(), "noop", encode_args(()).unwrap())
        .unwrap_err();
    assert_eq!(err.error_code, ErrorCode::CanisterWasmModuleNotFound);

    pic.stop_canister(id, Some(me)).unwrap();
    pic.delete_canister(id, Some(me)).unwrap();
    assert!(!pic.canister_exists(id));
}

#[test]
fn settings_are_updated_and_reported() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    let other = Principal::from_slice(&[9; 29]);
    pic.set_controllers(kv, None, vec![Principal::anonymous(), other])
        .unwrap();
    let mut controllers = pic.get_controllers(kv);
    controllers.sort();
    let mut expected = vec![Principal::anonymous(), other];
    expected.sort();
    assert_eq!(controllers, expected);
    let settings = pocket_ic::CanisterSettings {
        freezing_threshold: Some(candid::Nat::from(1234u64)),
        ..Default::default()
    };
    pic.update_canister_settings(kv, None, settings).unwrap();
    let status = pic.canister_status(kv, None).unwrap();
    assert_eq!(
        status.settings.freezing_threshold,
        candid::Nat::from(1234u64)
    );
}

#[test]
fn snapshots_are_taken_and_loaded_back() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    let () = update(&pic, kv, "put", encode_args(("k", "before")).unwrap());
    pic.stop_canister(kv, None).unwrap();
    let snapshot = pic.take_canister_snapshot(kv, None, None).unwrap();
    pic.start_canister(kv, None).unwrap();
    let () = update(&pic, kv, "put", encode_args(("k", "after")).unwrap());
    assert_eq!(pic.list_canister_snapshots(kv, None).unwrap().len(), 1);

    pic.stop_canister(kv, None).unwrap();
    pic.load_canister_snapshot(kv, None, snapshot.id.clone())
        .unwrap();
    pic.start_canister(kv, None).unwrap();
    let got: Option<String> = query(&pic, kv, "get", encode_one("k").unwrap());
    assert_eq!(got.as_deref(), Some("before"));

    pic.delete_canister_snapshot(kv, None, snapshot.id).unwrap();
    assert!(pic.list_canister_snapshots(kv, None).unwrap().is_empty());
}

#[test]
fn a_trap_message_is_in_the_canister_logs() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    for _ in 0..2 {
        let _ = pic.update_call(
            kv,
            Principal::anonymous(),
            "trap_after_write",
            encode_one("x").unwrap(),
        );
    }
    let logs = pic.fetch_canister_logs(kv, Principal::anonymous()).unwrap();
    let text: Vec<String> = logs
        .iter()
        .map(|r| String::from_utf8_lossy(&r.content).into_owned())
        .collect();
    assert!(
        text.iter().filter(|l| l.contains("trap")).count() >= 2,
        "two trap messages in {text:?}"
    );
}

#[test]
fn a_large_module_is_installed_in_chunks() {
    let pic = PocketIc::new();
    // kv with a 3 MB custom section: over the crate's 2 MB threshold for chunked installs.
    let mut module = wasm("kv");
    let name = b"padding";
    let payload = 3_000_000 + name.len() + 1;
    module.push(0); // custom section
    let mut size = payload;
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            module.push(byte);
            break;
        }
        module.push(byte | 0x80);
    }
    module.push(name.len() as u8);
    module.extend_from_slice(name);
    module.resize(module.len() + 3_000_000, 0);
    let id = pic.create_canister();
    pic.install_canister(id, module, encode_args(()).unwrap(), None);
    let version: String = query(&pic, id, "version", encode_args(()).unwrap());
    assert!(!version.is_empty());
}

#[test]
fn live_mode_runs_timers_in_real_time() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    let _: u64 = update(&pic, kv, "set_timer", encode_one(1u64).unwrap());
    pic.auto_progress();
    assert!(pic.auto_progress_enabled());
    let start = std::time::Instant::now();
    loop {
        let fired: u64 = query(&pic, kv, "timer_fired", encode_args(()).unwrap());
        if fired >= 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the timer did not fire in live mode"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pic.stop_progress();
    assert!(!pic.auto_progress_enabled());
}

#[test]
fn stable_memory_is_read_and_replaced() {
    let pic = PocketIc::new();
    let kv = install(&pic, "kv");
    pic.set_stable_memory(
        kv,
        b"world".to_vec(),
        pocket_ic::common::rest::BlobCompression::NoCompression,
    );
    let read: Vec<u8> = query(&pic, kv, "stable_read", encode_args((0u64, 5u64)).unwrap());
    assert_eq!(read, b"world", "the canister reads what the test set");
    let memory = pic.get_stable_memory(kv);
    assert_eq!(memory.len(), 65536, "whole Wasm pages");
    assert!(memory.starts_with(b"world") && memory[5..].iter().all(|b| *b == 0));

    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &big).unwrap();
    pic.set_stable_memory(
        kv,
        gz.finish().unwrap(),
        pocket_ic::common::rest::BlobCompression::Gzip,
    );
    let pages: u64 = query(&pic, kv, "stable_size", encode_args(()).unwrap());
    assert_eq!(pages, 4, "200 000 bytes take 4 Wasm pages");
    let read: Vec<u8> = query(
        &pic,
        kv,
        "stable_read",
        encode_args((150_000u64, 10u64)).unwrap(),
    );
    assert_eq!(read, big[150_000..150_010]);
    assert_eq!(&pic.get_stable_memory(kv)[..big.len()], &big[..]);
}

#[test]
fn an_instance_is_kept_in_a_state_directory_and_resumed_from_it() {
    let _ = wasm("kv");
    let dir = std::env::temp_dir().join(format!("pocket-ic-suite-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kv = {
        let pic = PocketIcBuilder::new()
            .with_state_dir(dir.clone())
            .with_application_subnet()
            .build();
        let kv = install(&pic, "kv");
        let () = update(&pic, kv, "put", encode_args(("kept", "yes")).unwrap());
        kv
    };
    for round in 0..2 {
        // The subnets come from the state directory.
        let pic = PocketIcBuilder::new().with_state_dir(dir.clone()).build();
        let got: Option<String> = query(&pic, kv, "get", encode_one("kept").unwrap());
        assert_eq!(got.as_deref(), Some("yes"), "round {round}");
        let len: u64 = query(&pic, kv, "len", encode_args(()).unwrap());
        assert_eq!(len, 1 + round, "round {round}");
        let () = update(
            &pic,
            kv,
            "put",
            encode_args((format!("r{round}"), "v")).unwrap(),
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tests_share_a_state_set_up_once() {
    static STATE: std::sync::OnceLock<pocket_ic::PocketIcState> = std::sync::OnceLock::new();
    let state = STATE.get_or_init(|| {
        let pic = PocketIcBuilder::new()
            .with_application_subnet()
            .with_state(pocket_ic::PocketIcState::new())
            .build();
        let kv = install(&pic, "kv");
        let () = update(&pic, kv, "put", encode_args(("shared", "1")).unwrap());
        pic.drop_and_take_state().unwrap()
    });
    for _ in 0..2 {
        let pic = PocketIcBuilder::new().with_read_only_state(state).build();
        let kv = Principal::from_text("lxzze-o7777-77777-aaaaa-cai").unwrap();
        let got: Option<String> = query(&pic, kv, "get", encode_one("shared").unwrap());
        assert_eq!(got.as_deref(), Some("1"));
        // A change in one mount is not seen by the next.
        let () = update(&pic, kv, "put", encode_args(("shared", "2")).unwrap());
    }
}

#[test]
fn a_live_instance_serves_the_ic_http_interface() {
    let mut pic = PocketIc::new();
    let kv = install(&pic, "kv");
    // Live, stopped, and live again: the calls right after each change are answered.
    for round in 0..2 {
        let url = pic.make_live(None);
        let port = url.port().expect("a port");
        for _ in 0..2 {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(
                &mut stream,
                b"GET /api/v2/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            let mut response = Vec::new();
            std::io::Read::read_to_end(&mut stream, &mut response).unwrap();
            let text = String::from_utf8_lossy(&response);
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert!(text.contains("application/cbor"), "{text}");
        }
        // The instance's own calls work while it is live, and after.
        let () = update(&pic, kv, "put", encode_args((format!("live {round}"), "1")).unwrap());
        pic.stop_live();
        let () = update(&pic, kv, "put", encode_args((format!("after {round}"), "1")).unwrap());
        let len: u64 = query(&pic, kv, "len", encode_args(()).unwrap());
        assert_eq!(len, 2 * (round + 1));
    }
}

#[test]
fn an_instance_starts_at_the_time_asked_and_reports_one_application_subnet() {
    let _ = wasm("kv");
    // 2023-11-14T22:13:20Z, in nanoseconds.
    let start = 1_700_000_000_000_000_000u64;
    let pic = PocketIcBuilder::new()
        .with_application_subnet()
        .with_initial_timestamp(start)
        .build();
    assert_eq!(pic.get_time().as_nanos_since_unix_epoch(), start);
    let kv = install(&pic, "kv");
    let () = update(&pic, kv, "put", encode_args(("a", "b")).unwrap());
    assert!(pic.get_time().as_nanos_since_unix_epoch() < start + 1_000_000_000);

    let topology = pic.topology();
    let apps = topology.get_app_subnets();
    assert_eq!(apps.len(), 1, "one application subnet");
    assert_eq!(topology.subnet_configs.len(), 1, "and nothing else");
    assert_eq!(topology.get_subnet(kv), Some(apps[0]));
    assert_eq!(pic.get_subnet(kv), Some(apps[0]));
    assert!(pic.root_key().is_none(), "no NNS subnet, so no root key");
}

/// One HTTP/1.1 request to the server of `pic`: the status and the body.
fn http(pic: &PocketIc, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let port = pic.get_server_url().port().expect("a port");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().expect("a status");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// drydock's extension (README, "Beyond PocketIC"): `POST /drydock/instances/ID/clone` makes
/// a new instance over a copy of instance ID's state, which the crate attaches to by its id.
fn clone_instance(pic: &PocketIc) -> PocketIc {
    let (status, body) = http(
        pic,
        "POST",
        &format!("/drydock/instances/{}/clone", pic.instance_id()),
    );
    assert_eq!(status, 201, "{body}");
    let id = body
        .split_once("\"instance_id\":")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no instance id in {body}"));
    PocketIc::new_from_existing_instance(pic.get_server_url(), id, None)
}

#[test]
fn an_instance_set_up_once_is_cloned_per_test_with_drydock_s_extension() {
    let base = PocketIc::new();
    let kv = install(&base, "kv");
    let () = update(&base, kv, "put", encode_args(("shared", "1")).unwrap());
    let time = base.get_time();
    for round in 0..2 {
        let pic = clone_instance(&base);
        assert_ne!(pic.instance_id(), base.instance_id());
        // The clone starts at the instance's time (a round's nanosecond aside), not now.
        let at = pic.get_time();
        assert!(
            at >= time && at < time + Duration::from_micros(1),
            "{at:?} vs {time:?}"
        );
        let got: Option<String> = query(&pic, kv, "get", encode_one("shared").unwrap());
        assert_eq!(got.as_deref(), Some("1"), "round {round}");
        // The clone goes its own way: its changes do not reach the instance it came from.
        let () = update(&pic, kv, "put", encode_args(("shared", "2")).unwrap());
        let got: Option<String> = query(&pic, kv, "get", encode_one("shared").unwrap());
        assert_eq!(got.as_deref(), Some("2"));
        let got: Option<String> = query(&base, kv, "get", encode_one("shared").unwrap());
        assert_eq!(got.as_deref(), Some("1"), "round {round}");
        // Nor do the instance's changes reach the clone (the two shared files until now).
        let () = update(&base, kv, "put", encode_args(("other", round.to_string())).unwrap());
        let got: Option<String> = query(&pic, kv, "get", encode_one("other").unwrap());
        let before = (round > 0).then(|| (round - 1).to_string());
        assert_eq!(got, before, "round {round}");
        let got: Option<String> = query(&pic, kv, "get", encode_one("shared").unwrap());
        assert_eq!(got.as_deref(), Some("2"));
        let (status, body) = http(&pic, "DELETE", &format!("/instances/{}", pic.instance_id()));
        assert_eq!(status, 200, "{body}");
    }
    // An instance that does not exist cannot be cloned: 404, and the server keeps serving.
    let (status, body) = http(&base, "POST", "/drydock/instances/999999/clone");
    assert_eq!(status, 404, "{body}");
    let len: u64 = query(&base, kv, "len", encode_args(()).unwrap());
    assert_eq!(len, 2);
}
