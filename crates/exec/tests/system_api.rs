//! The `ic0` System API on a bare wasmtime store: each test instantiates a small WAT module
//! against `system_api::link` and runs its `run` export as one message.

use drydock_exec::context::{
    EntryKind, ExecLimits, MessageEnv, Outcome, StoreData, SystemApiState,
};
use drydock_exec::system_api;
use drydock_exec::{HostTrap, MemoryBacking, StableMemory};
use wasmtime::{Config, Engine, Instance, Linker, Module, Store};

const FUEL: u64 = 1_000_000;

fn engine() -> Engine {
    let mut config = Config::new();
    config.consume_fuel(true).wasm_memory64(true);
    Engine::new(&config).expect("engine")
}

struct Run {
    store: Store<StoreData>,
    instance: Instance,
}

fn store_data(kind: EntryKind, env: MessageEnv, limits: ExecLimits, stable_max: u64) -> StoreData {
    let mut data = StoreData::empty();
    data.stable = StableMemory::new(&MemoryBacking::default(), stable_max).expect("stable memory");
    data.api = Some(SystemApiState::new(kind, env, Vec::new(), 0, limits));
    data
}

fn setup_with(wat: &str, memory64: bool, data: StoreData) -> Run {
    let engine = engine();
    let wasm = wat::parse_str(wat).expect("wat");
    let module = Module::new(&engine, wasm).expect("module");
    let mut linker = Linker::new(&engine);
    system_api::link(&mut linker, memory64).expect("link");
    let mut store = Store::new(&engine, data);
    store.set_fuel(FUEL).expect("fuel");
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    Run { store, instance }
}

fn setup(wat: &str, kind: EntryKind, env: MessageEnv) -> Run {
    setup_with(
        wat,
        false,
        store_data(kind, env, ExecLimits::ic(FUEL), 1 << 30),
    )
}

impl Run {
    fn call(&mut self, name: &str) -> Result<(), wasmtime::Error> {
        let f = self
            .instance
            .get_typed_func::<(), ()>(&mut self.store, name)
            .expect("export");
        f.call(&mut self.store, ())
    }

    fn run(&mut self) -> Result<(), wasmtime::Error> {
        self.call("run")
    }

    fn api(&self) -> &SystemApiState {
        self.store.data().api.as_ref().expect("api")
    }

    fn heap(&mut self) -> Vec<u8> {
        let mem = self
            .instance
            .get_memory(&mut self.store, "__drydock_memory")
            .expect("memory");
        mem.data(&self.store).to_vec()
    }
}

fn host_trap(err: wasmtime::Error) -> HostTrap {
    match err.downcast_ref::<HostTrap>() {
        Some(t) => t.clone(),
        None => panic!("not a HostTrap: {err:?}"),
    }
}

const ECHO: &str = r#"
(module
  (import "ic0" "msg_arg_data_size" (func $size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "__drydock_memory") 1)
  (func (export "run")
    (call $copy (i32.const 0) (i32.const 0) (call $size))
    (call $append (i32.const 0) (call $size))
    (call $reply))
  (func (export "twice") (call $reply) (call $reply)))
"#;

fn env_with_arg(arg: &[u8]) -> MessageEnv {
    MessageEnv {
        arg: arg.to_vec(),
        ..MessageEnv::default()
    }
}

#[test]
fn echo_replies_with_the_argument() {
    let mut r = setup(ECHO, EntryKind::Update, env_with_arg(b"hello"));
    r.run().expect("run");
    assert_eq!(r.api().response, Some(Outcome::Reply(b"hello".to_vec())));
}

#[test]
fn replying_twice_traps() {
    let mut r = setup(ECHO, EntryKind::Update, MessageEnv::default());
    let t = host_trap(r.call("twice").unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation("ic0.msg_reply: the call is already replied".into())
    );
}

#[test]
fn reply_in_init_is_not_available() {
    let mut r = setup(ECHO, EntryKind::Init, env_with_arg(b"x"));
    let t = host_trap(r.run().unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation(
            "\"ic0_msg_reply_data_append\" cannot be executed in init mode".into()
        )
    );
    let mut r = setup(ECHO, EntryKind::PostUpgrade, MessageEnv::default());
    let t = host_trap(r.call("twice").unwrap_err());
    assert_eq!(
        t.to_string(),
        "Canister violated contract: \"ic0_msg_reply\" cannot be executed in init mode"
    );
}

#[test]
fn msg_arg_data_copy_checks_bounds() {
    let wat = r#"
    (module
      (import "ic0" "msg_arg_data_copy" (func $copy (param i32 i32 i32)))
      (memory (export "__drydock_memory") 1)
      (func (export "run") (call $copy (i32.const 65534) (i32.const 0) (i32.const 3)))
      (func (export "past_arg") (call $copy (i32.const 0) (i32.const 2) (i32.const 3))))
    "#;
    let mut r = setup(wat, EntryKind::Update, env_with_arg(b"abcd"));
    assert_eq!(host_trap(r.run().unwrap_err()), HostTrap::HeapOutOfBounds);
    let t = host_trap(r.call("past_arg").unwrap_err());
    assert!(
        matches!(&t, HostTrap::ContractViolation(m) if m.contains("exceeds the slice size=4")),
        "{t}"
    );
}

#[test]
fn trap_carries_the_message() {
    let wat = r#"
    (module
      (import "ic0" "trap" (func $trap (param i32 i32)))
      (memory (export "__drydock_memory") 1)
      (data (i32.const 0) "boom \ff")
      (func (export "run") (call $trap (i32.const 0) (i32.const 6)))
      (func (export "oob") (call $trap (i32.const 65535) (i32.const 6))))
    "#;
    let mut r = setup(wat, EntryKind::Query, MessageEnv::default());
    let t = host_trap(r.run().unwrap_err());
    assert_eq!(t, HostTrap::Explicit("boom \u{fffd}".into()));
    assert_eq!(
        t.to_string(),
        "Canister called `ic0.trap` with message: 'boom \u{fffd}'"
    );
    let t = host_trap(r.call("oob").unwrap_err());
    assert_eq!(
        t,
        HostTrap::Explicit("(trap message out of memory bounds)".into())
    );
}

#[test]
fn debug_print_never_traps() {
    let wat = r#"
    (module
      (import "ic0" "debug_print" (func $print (param i32 i32)))
      (memory (export "__drydock_memory") 1)
      (data (i32.const 0) "hi")
      (func (export "run")
        (call $print (i32.const 0) (i32.const 2))
        (call $print (i32.const 65535) (i32.const 100))))
    "#;
    let mut r = setup(wat, EntryKind::Start, MessageEnv::default());
    r.run().expect("run");
    assert_eq!(
        r.api().debug_log,
        vec![
            "hi".to_string(),
            "(debug message out of memory bounds)".to_string()
        ]
    );
}

const STABLE: &str = r#"
(module
  (import "ic0" "stable64_size" (func $size (result i64)))
  (import "ic0" "stable64_grow" (func $grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $write (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $read (param i64 i64 i64)))
  (memory (export "__drydock_memory") 1)
  (data (i32.const 0) "abc")
  (global $r0 (export "r0") (mut i64) (i64.const 7))
  (global $r1 (export "r1") (mut i64) (i64.const 7))
  (global $r2 (export "r2") (mut i64) (i64.const 7))
  (func (export "run")
    (global.set $r0 (call $grow (i64.const 1)))
    (global.set $r1 (call $size))
    (call $write (i64.const 100) (i64.const 0) (i64.const 3))
    (call $read (i64.const 200) (i64.const 100) (i64.const 3))
    (global.set $r2 (call $grow (i64.const 100000))))
  (func (export "stable_oob") (call $read (i64.const 0) (i64.const 65535) (i64.const 2)))
  (func (export "heap_oob") (call $read (i64.const 65535) (i64.const 0) (i64.const 2)))
  (func (export "write_oob") (call $write (i64.const 65535) (i64.const 0) (i64.const 2)))
  (func (export "huge") (call $read (i64.const 0) (i64.const -1) (i64.const 2))))
"#;

fn global_i64(r: &mut Run, name: &str) -> i64 {
    r.instance
        .get_global(&mut r.store, name)
        .expect("global")
        .get(&mut r.store)
        .i64()
        .expect("i64")
}

#[test]
fn stable64_round_trip_and_bounds() {
    let mut r = setup(STABLE, EntryKind::Update, MessageEnv::default());
    r.run().expect("run");
    assert_eq!(global_i64(&mut r, "r0"), 0);
    assert_eq!(global_i64(&mut r, "r1"), 1);
    // 100000 more pages pass the 1 GiB stable memory of this test.
    assert_eq!(global_i64(&mut r, "r2"), -1);
    assert_eq!(&r.heap()[200..203], b"abc");
    assert_eq!(r.store.data().stable.size_pages(), 1);
    // The write and the read touch the same page: it counts once (interface spec, "Resource
    // limits": distinct pages per message).
    assert_eq!(r.api().stable_pages.accessed(), 1);
    assert_eq!(
        host_trap(r.call("stable_oob").unwrap_err()),
        HostTrap::StableOutOfBounds
    );
    assert_eq!(
        host_trap(r.call("heap_oob").unwrap_err()),
        HostTrap::HeapOutOfBounds
    );
    assert_eq!(
        host_trap(r.call("write_oob").unwrap_err()),
        HostTrap::StableOutOfBounds
    );
    assert_eq!(
        host_trap(r.call("huge").unwrap_err()),
        HostTrap::StableOutOfBounds
    );
}

#[test]
fn stable64_grow_respects_stable_max_and_access_limit() {
    let mut limits = ExecLimits::ic(FUEL);
    limits.stable_max = 65536;
    limits.stable_pages_max = Some(0);
    let mut r = setup_with(
        STABLE,
        false,
        store_data(EntryKind::Update, MessageEnv::default(), limits, 1 << 30),
    );
    let t = host_trap(r.run().unwrap_err());
    assert_eq!(t, HostTrap::StableAccessedPages);
    assert!(t
        .to_string()
        .starts_with("Canister exceeded memory access limits"));
    // One page fits `stable_max`; the write's first page passes a limit of 0 pages.
    assert_eq!(global_i64(&mut r, "r0"), 0);
    assert_eq!(r.api().stable_pages.accessed(), 0);
}

#[test]
fn stable32_api_refuses_memory_over_4_gib() {
    let wat = r#"
    (module
      (import "ic0" "stable_size" (func $size (result i32)))
      (import "ic0" "stable_grow" (func $grow (param i32) (result i32)))
      (import "ic0" "stable64_grow" (func $grow64 (param i64) (result i64)))
      (memory (export "__drydock_memory") 1)
      (global $r0 (export "r0") (mut i32) (i32.const 7))
      (global $r1 (export "r1") (mut i32) (i32.const 7))
      (func (export "run")
        (global.set $r0 (call $grow (i32.const 2)))
        (global.set $r1 (call $grow (i32.const 65535))))
      (func (export "big") (drop (call $grow64 (i64.const 65536))) (drop (call $size))))
    "#;
    let mut r = setup_with(
        wat,
        false,
        store_data(
            EntryKind::Update,
            MessageEnv::default(),
            ExecLimits::ic(FUEL),
            5 << 30,
        ),
    );
    r.run().expect("run");
    let r0 = r
        .instance
        .get_global(&mut r.store, "r0")
        .unwrap()
        .get(&mut r.store)
        .i32()
        .unwrap();
    let r1 = r
        .instance
        .get_global(&mut r.store, "r1")
        .unwrap()
        .get(&mut r.store)
        .i32()
        .unwrap();
    assert_eq!((r0, r1), (0, -1));
    let t = host_trap(r.call("big").unwrap_err());
    assert!(
        matches!(&t, HostTrap::ContractViolation(m) if m.contains("larger than 4GB")),
        "{t}"
    );
}

#[test]
fn performance_counter_increases() {
    let wat = r#"
    (module
      (import "ic0" "performance_counter" (func $pc (param i32) (result i64)))
      (memory (export "__drydock_memory") 1)
      (global $a (export "a") (mut i64) (i64.const 0))
      (global $b (export "b") (mut i64) (i64.const 0))
      (global $c (export "c") (mut i64) (i64.const 0))
      (func (export "run") (local $i i32)
        (global.set $a (call $pc (i32.const 0)))
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
        (global.set $b (call $pc (i32.const 0)))
        (global.set $c (call $pc (i32.const 1))))
      (func (export "bad") (drop (call $pc (i32.const 2)))))
    "#;
    let mut r = setup(wat, EntryKind::Update, MessageEnv::default());
    r.run().expect("run");
    let (a, b, c) = (
        global_i64(&mut r, "a"),
        global_i64(&mut r, "b"),
        global_i64(&mut r, "c"),
    );
    assert!(a >= 200, "the call itself is charged: {a}");
    assert!(b > a + 1000, "{a} {b}");
    assert!(c > b, "{b} {c}");
    let t = host_trap(r.call("bad").unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation("Error getting performance counter type 2".into())
    );
}

#[test]
fn running_out_of_instructions_in_a_call_traps() {
    let mut r = setup(ECHO, EntryKind::Update, MessageEnv::default());
    r.store.set_fuel(100).unwrap();
    let t = host_trap(r.call("twice").unwrap_err());
    assert_eq!(t, HostTrap::InstructionLimit { limit: FUEL });
}

#[test]
fn reply_bytes_are_charged() {
    let mut r = setup(ECHO, EntryKind::Update, env_with_arg(&[7; 1000]));
    r.run().expect("run");
    let used = FUEL - r.store.get_fuel().unwrap();
    // 4 calls of 500, the copy of 1000 bytes, 50 per byte replied.
    assert!(used >= 4 * 500 + 1000 + 50 * 1000, "{used}");
}

#[test]
fn certified_data_is_at_most_32_bytes() {
    let wat = r#"
    (module
      (import "ic0" "certified_data_set" (func $set (param i32 i32)))
      (memory (export "__drydock_memory") 1)
      (data (i32.const 0) "0123456789abcdef0123456789abcdefX")
      (func (export "run") (call $set (i32.const 0) (i32.const 32)))
      (func (export "long") (call $set (i32.const 0) (i32.const 33))))
    "#;
    let mut r = setup(wat, EntryKind::Update, MessageEnv::default());
    r.run().expect("run");
    assert_eq!(
        r.api().certified_data,
        b"0123456789abcdef0123456789abcdef".to_vec()
    );
    let t = host_trap(r.call("long").unwrap_err());
    assert!(
        matches!(&t, HostTrap::ContractViolation(m) if m.contains("no larger than 32 bytes. Found 33 bytes")),
        "{t}"
    );
    let mut r = setup(wat, EntryKind::Query, MessageEnv::default());
    let t = host_trap(r.run().unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation(
            "\"ic0_certified_data_set\" cannot be executed in non replicated query mode".into()
        )
    );
}

#[test]
fn is_controller_checks_the_principal() {
    let wat = r#"
    (module
      (import "ic0" "is_controller" (func $is (param i32 i32) (result i32)))
      (memory (export "__drydock_memory") 1)
      (data (i32.const 0) "\01\02\03")
      (global $yes (export "yes") (mut i32) (i32.const 7))
      (global $no (export "no") (mut i32) (i32.const 7))
      (func (export "run")
        (global.set $yes (call $is (i32.const 0) (i32.const 3)))
        (global.set $no (call $is (i32.const 1) (i32.const 2))))
      (func (export "invalid") (drop (call $is (i32.const 0) (i32.const 30)))))
    "#;
    let env = MessageEnv {
        controllers: vec![vec![1, 2, 3]],
        ..MessageEnv::default()
    };
    let mut r = setup(wat, EntryKind::Start, env);
    r.run().expect("run");
    let yes = r
        .instance
        .get_global(&mut r.store, "yes")
        .unwrap()
        .get(&mut r.store)
        .i32()
        .unwrap();
    let no = r
        .instance
        .get_global(&mut r.store, "no")
        .unwrap()
        .get(&mut r.store)
        .i32()
        .unwrap();
    assert_eq!((yes, no), (1, 0));
    let t = host_trap(r.call("invalid").unwrap_err());
    assert!(
        matches!(&t, HostTrap::ContractViolation(m) if m.contains("invalid principal")),
        "{t}"
    );
}

const CALL: &str = r#"
(module
  (import "ic0" "call_new" (func $new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_data_append" (func $append (param i32 i32)))
  (import "ic0" "call_cycles_add128" (func $cycles (param i64 i64)))
  (import "ic0" "call_on_cleanup" (func $cleanup (param i32 i32)))
  (import "ic0" "call_perform" (func $perform (result i32)))
  (memory (export "__drydock_memory") 1)
  (data (i32.const 0) "\01\02\03pingARG")
  (func (export "run")
    (call $new (i32.const 0) (i32.const 3) (i32.const 3) (i32.const 4) (i32.const 7) (i32.const 8) (i32.const 9) (i32.const 10))
    (call $append (i32.const 7) (i32.const 3))
    (call $cycles (i64.const 0) (i64.const 500))
    (call $cleanup (i32.const 11) (i32.const 12))
    (drop (call $perform)))
  (func (export "perform") (drop (call $perform)))
  (func (export "too_many_cycles")
    (call $new (i32.const 0) (i32.const 3) (i32.const 3) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (call $cycles (i64.const 1) (i64.const 0))))
"#;

// Interface spec, "Inter-canister method calls": call_new … call_perform assemble one call.
#[test]
fn a_canister_assembles_and_performs_a_call() {
    // "Cycles costs": the call's fees are taken in advance, with the cycles attached.
    let fee = drydock_exec::fees::call(4, 3);
    let env = MessageEnv {
        cycles_balance: 1_000 + fee,
        ..MessageEnv::default()
    };
    let mut r = setup(CALL, EntryKind::Update, env);
    r.run().unwrap();
    let api = r.api();
    assert!(api.building.is_none());
    assert_eq!(api.calls.len(), 1);
    assert_eq!(api.call_fees_prepaid, fee);
    let call = &api.calls[0];
    assert_eq!(call.callee, vec![1, 2, 3]);
    assert_eq!(call.method, "ping");
    assert_eq!(call.payload, b"ARG");
    assert_eq!(call.cycles, 500);
    assert_eq!((call.reply.fun, call.reply.env), (7, 8));
    assert_eq!((call.reject.fun, call.reject.env), (9, 10));
    assert_eq!(call.cleanup.map(|c| (c.fun, c.env)), Some((11, 12)));
    assert_eq!(api.cycles_sent, 500);
    // call_perform without call_new traps.
    let t = host_trap(r.call("perform").unwrap_err());
    assert!(t.to_string().contains("no call is being assembled"), "{t}");
    // More cycles than the balance traps.
    let t = host_trap(r.call("too_many_cycles").unwrap_err());
    assert!(t.to_string().contains("out of cycles"), "{t}");
    // A canister that cannot pay the fees above its freezing threshold makes no call.
    for (balance, threshold) in [(fee, 0), (1_000 + fee, 501)] {
        let env = MessageEnv {
            cycles_balance: balance,
            freezing_threshold: threshold,
            ..MessageEnv::default()
        };
        let mut r = setup(CALL, EntryKind::Update, env);
        r.run().unwrap();
        let api = r.api();
        assert!(api.calls.is_empty());
        assert_eq!((api.cycles_sent, api.call_fees_prepaid), (0, 0));
    }
    // Availability comes first.
    let mut r = setup(CALL, EntryKind::Query, MessageEnv::default());
    let t = host_trap(r.run().unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation(
            "\"ic0_call_new\" cannot be executed in non replicated query mode".into()
        )
    );
}

#[test]
fn inspect_message_accepts_once() {
    let wat = r#"
    (module
      (import "ic0" "accept_message" (func $accept))
      (import "ic0" "msg_method_name_size" (func $size (result i32)))
      (memory (export "__drydock_memory") 1)
      (global $n (export "n") (mut i32) (i32.const 0))
      (func (export "run") (global.set $n (call $size)) (call $accept))
      (func (export "again") (call $accept)))
    "#;
    let env = MessageEnv {
        method_name: "greet".into(),
        ..MessageEnv::default()
    };
    let mut r = setup(wat, EntryKind::InspectMessage, env);
    r.run().expect("run");
    assert!(r.api().accepted);
    let n = r
        .instance
        .get_global(&mut r.store, "n")
        .unwrap()
        .get(&mut r.store)
        .i32()
        .unwrap();
    assert_eq!(n, 5);
    let t = host_trap(r.call("again").unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation("ic0.accept_message: the function was already called.".into())
    );
    let mut r = setup(wat, EntryKind::Update, MessageEnv::default());
    let t = host_trap(r.call("again").unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation(
            "\"ic0_accept_message\" cannot be executed in update mode".into()
        )
    );
}

#[test]
fn timer_cycles_and_time() {
    let wat = r#"
    (module
      (import "ic0" "global_timer_set" (func $timer (param i64) (result i64)))
      (import "ic0" "time" (func $time (result i64)))
      (import "ic0" "msg_cycles_accept128" (func $accept (param i64 i64 i32)))
      (import "ic0" "msg_cycles_available" (func $available (result i64)))
      (import "ic0" "canister_cycle_balance128" (func $balance (param i32)))
      (memory (export "__drydock_memory") 1)
      (global $prev (export "prev") (mut i64) (i64.const 7))
      (global $now (export "now") (mut i64) (i64.const 7))
      (global $left (export "left") (mut i64) (i64.const 7))
      (func (export "run")
        (drop (call $timer (i64.const 5)))
        (global.set $prev (call $timer (i64.const 9)))
        (global.set $now (call $time))
        (call $accept (i64.const 0) (i64.const 30) (i32.const 0))
        (global.set $left (call $available))
        (call $balance (i32.const 16))))
    "#;
    let env = MessageEnv {
        time_nanos: 42,
        cycles_available: 100,
        cycles_balance: 1000,
        ..MessageEnv::default()
    };
    let mut r = setup(wat, EntryKind::Update, env);
    r.run().expect("run");
    assert_eq!(global_i64(&mut r, "prev"), 5);
    assert_eq!(global_i64(&mut r, "now"), 42);
    assert_eq!(global_i64(&mut r, "left"), 70);
    assert_eq!(r.api().global_timer, 9);
    assert_eq!(r.api().cycles_accepted, 30);
    let heap = r.heap();
    assert_eq!(u128::from_le_bytes(heap[0..16].try_into().unwrap()), 30);
    assert_eq!(u128::from_le_bytes(heap[16..32].try_into().unwrap()), 1030);
}

#[test]
fn start_allows_only_its_functions() {
    let wat = r#"
    (module
      (import "ic0" "time" (func $time (result i64)))
      (import "ic0" "stable64_size" (func $size (result i64)))
      (memory (export "__drydock_memory") 1)
      (func (export "run") (drop (call $size)))
      (func (export "time") (drop (call $time))))
    "#;
    let mut r = setup(wat, EntryKind::Start, MessageEnv::default());
    r.run().expect("stable64_size is available in start");
    let t = host_trap(r.call("time").unwrap_err());
    assert_eq!(
        t,
        HostTrap::ContractViolation("\"ic0_time\" cannot be executed in start mode".into())
    );
}

#[test]
fn no_message_traps() {
    let mut data = store_data(
        EntryKind::Update,
        MessageEnv::default(),
        ExecLimits::ic(FUEL),
        1 << 20,
    );
    data.api = None;
    let mut r = setup_with(ECHO, false, data);
    let t = host_trap(r.run().unwrap_err());
    assert!(
        matches!(&t, HostTrap::ContractViolation(m) if m.contains("outside of a message")),
        "{t}"
    );
}

#[test]
fn reject_callback_sees_the_reject() {
    let wat = r#"
    (module
      (import "ic0" "msg_reject_code" (func $code (result i32)))
      (import "ic0" "msg_reject_msg_size" (func $size (result i32)))
      (import "ic0" "msg_reject_msg_copy" (func $copy (param i32 i32 i32)))
      (import "ic0" "msg_reject" (func $reject (param i32 i32)))
      (memory (export "__drydock_memory") 1)
      (global $c (export "c") (mut i32) (i32.const 7))
      (func (export "run")
        (global.set $c (call $code))
        (call $copy (i32.const 0) (i32.const 0) (call $size))
        (call $reject (i32.const 0) (call $size))))
    "#;
    let env = MessageEnv {
        reject: Some((4, "nope".into())),
        ..MessageEnv::default()
    };
    let mut r = setup(wat, EntryKind::RejectCallback, env);
    r.run().expect("run");
    let c = r
        .instance
        .get_global(&mut r.store, "c")
        .unwrap()
        .get(&mut r.store)
        .i32()
        .unwrap();
    assert_eq!(c, 4);
    assert_eq!(r.api().response, Some(Outcome::Reject("nope".into())));
}

const ECHO64: &str = r#"
(module
  (import "ic0" "msg_arg_data_size" (func $size (result i64)))
  (import "ic0" "msg_arg_data_copy" (func $copy (param i64 i64 i64)))
  (import "ic0" "msg_reply_data_append" (func $append (param i64 i64)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "stable64_grow" (func $grow (param i64) (result i64)))
  (import "ic0" "msg_cycles_accept128" (func $accept (param i64 i64 i64)))
  (import "ic0" "cost_sign_with_ecdsa" (func $cost (param i64 i64 i32 i64) (result i32)))
  (memory (export "__drydock_memory") i64 1)
  (data (i64.const 100) "key_1")
  (global $r (export "r") (mut i32) (i32.const 7))
  (func (export "run")
    (call $copy (i64.const 0) (i64.const 0) (call $size))
    (call $append (i64.const 0) (call $size))
    (drop (call $grow (i64.const 1)))
    (call $accept (i64.const 0) (i64.const 1) (i64.const 200))
    (global.set $r (call $cost (i64.const 100) (i64.const 5) (i32.const 0) (i64.const 300)))
    (call $reply)))
"#;

#[test]
fn memory64_modules_use_i64_pointers() {
    let data = store_data(
        EntryKind::Update,
        env_with_arg(b"wide"),
        ExecLimits::ic(FUEL),
        1 << 30,
    );
    let mut r = setup_with(ECHO64, true, data);
    r.run().expect("run");
    assert_eq!(r.api().response, Some(Outcome::Reply(b"wide".to_vec())));
    let res = r
        .instance
        .get_global(&mut r.store, "r")
        .unwrap()
        .get(&mut r.store)
        .i32()
        .unwrap();
    assert_eq!(res, 0);
    let heap = r.heap();
    assert!(u128::from_le_bytes(heap[300..316].try_into().unwrap()) > 0);

    // The same module does not link for wasm32, and the wasm32-only functions are absent
    // from the memory64 linker.
    let engine = engine();
    let module = Module::new(&engine, wat::parse_str(ECHO64).unwrap()).unwrap();
    let mut linker32 = Linker::new(&engine);
    system_api::link(&mut linker32, false).unwrap();
    let mut store = Store::new(&engine, StoreData::empty());
    assert!(linker32.instantiate(&mut store, &module).is_err());
    let mut linker64 = Linker::new(&engine);
    system_api::link(&mut linker64, true).unwrap();
    for name in [
        "stable_size",
        "stable_grow",
        "stable_read",
        "stable_write",
        "msg_cycles_available",
        "call_cycles_add",
    ] {
        assert!(linker64.get(&mut store, "ic0", name).is_err(), "{name}");
        assert!(linker32.get(&mut store, "ic0", name).is_ok(), "{name}");
    }
}

#[test]
fn names_match_the_linkers() {
    let engine = engine();
    let mut store = Store::new(&engine, StoreData::empty());
    for memory64 in [false, true] {
        let mut linker = Linker::new(&engine);
        system_api::link(&mut linker, memory64).unwrap();
        let names = system_api::names_for(memory64);
        for name in &names {
            assert!(
                linker.get(&mut store, "ic0", name).is_ok(),
                "{name} missing (memory64 {memory64})"
            );
        }
        let defined = linker
            .iter(&mut store)
            .filter(|(m, _, _)| *m == "ic0")
            .count();
        assert_eq!(defined, names.len());
    }
    let all = system_api::names();
    for expected in [
        "msg_arg_data_size",
        "msg_caller_copy",
        "msg_reply",
        "msg_reject",
        "msg_deadline",
        "msg_caller_info_data_size",
        "msg_caller_info_signer_copy",
        "accept_message",
        "msg_cycles_available128",
        "msg_cycles_refunded128",
        "msg_cycles_accept128",
        "cycles_burn128",
        "canister_self_size",
        "canister_cycle_balance128",
        "canister_liquid_cycle_balance128",
        "canister_status",
        "canister_version",
        "subnet_self_copy",
        "root_key_copy",
        "call_new",
        "call_on_cleanup",
        "call_data_append",
        "call_with_best_effort_response",
        "call_cycles_add128",
        "call_perform",
        "stable64_read",
        "certified_data_set",
        "data_certificate_copy",
        "time",
        "global_timer_set",
        "performance_counter",
        "is_controller",
        "in_replicated_execution",
        "cost_call",
        "cost_create_canister",
        "cost_http_request",
        "cost_sign_with_ecdsa",
        "cost_sign_with_schnorr",
        "cost_vetkd_derive_key",
        "env_var_count",
        "env_var_value_copy",
        "debug_print",
        "trap",
        "stable_read",
        "canister_cycle_balance",
        "call_cycles_add",
    ] {
        assert!(all.contains(&expected), "{expected}");
    }
}

/// Real compilers' output links: every `ic0` import of the test canisters (when they have been
/// built) exists in the matching linker with the same type. `DRYDOCK_WASM_DIR` adds a
/// directory to look in.
#[test]
fn real_canister_imports_link() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = vec![
        root.join("canisters/target/wasm32-unknown-unknown/release"),
        root.join("target/test-canisters"),
    ];
    if let Ok(dir) = std::env::var("DRYDOCK_WASM_DIR") {
        dirs.push(dir.into());
    }
    let engine = engine();
    let mut store = Store::new(&engine, StoreData::empty());
    let mut linkers = Vec::new();
    for memory64 in [false, true] {
        let mut linker = Linker::new(&engine);
        system_api::link(&mut linker, memory64).unwrap();
        linkers.push(linker);
    }
    let (mut modules, mut imports, mut memory64_modules) = (0usize, 0usize, 0usize);
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wasm") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let module =
                Module::new(&engine, &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let memory64 = module
                .imports()
                .any(|i| matches!(i.ty(), wasmtime::ExternType::Memory(m) if m.is_64()))
                || module
                    .exports()
                    .any(|e| matches!(e.ty(), wasmtime::ExternType::Memory(m) if m.is_64()));
            let linker = &linkers[usize::from(memory64)];
            modules += 1;
            memory64_modules += usize::from(memory64);
            for import in module.imports().filter(|i| i.module() == "ic0") {
                imports += 1;
                let wanted = import.ty().func().cloned().expect("function import");
                let have = linker
                    .get(&mut store, "ic0", import.name())
                    .unwrap_or_else(|_| {
                        panic!(
                            "{}: ic0.{} missing (memory64 {memory64})",
                            path.display(),
                            import.name()
                        )
                    });
                let have = have.into_func().expect("func").ty(&store);
                assert!(
                    wasmtime::FuncType::eq(&have, &wanted),
                    "{}: ic0.{} is {have}, the module wants {wanted}",
                    path.display(),
                    import.name()
                );
            }
        }
    }
    // It checked something: the test canisters are there (Rust wasm32 and Motoko memory64).
    assert!(
        modules >= 10 && memory64_modules >= 1 && imports >= 100,
        "checked {modules} modules ({memory64_modules} memory64) and {imports} imports: run scripts/build-test-canisters.sh first"
    );
}
