//! A suite of 50 tests in the shape PocketIC suites usually have: each creates its own
//! instance, installs `kv` and makes 20 calls. Its wall time is in BENCHMARKS.md
//! (`cargo test --test fifty`, with POCKET_IC_BIN naming drydock).

use candid::{decode_one, encode_args, encode_one, Principal};
use pocket_ic::PocketIc;

fn kv_wasm() -> Vec<u8> {
    assert!(
        std::env::var_os("POCKET_IC_BIN").is_some(),
        "POCKET_IC_BIN is not set: point it at the drydock binary (scripts/test.sh does)"
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-canisters/kv.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/build-test-canisters.sh first)",
            path.display()
        )
    })
}

fn one_test(n: u32) {
    let pic = PocketIc::new();
    let kv = pic.create_canister();
    pic.add_cycles(kv, 2_000_000_000_000);
    pic.install_canister(kv, kv_wasm(), encode_args(()).unwrap(), None);
    for i in 0..10 {
        let key = format!("t{n}-{i}");
        pic.update_call(
            kv,
            Principal::anonymous(),
            "put",
            encode_args((&key, "v")).unwrap(),
        )
        .unwrap();
        let reply = pic
            .query_call(kv, Principal::anonymous(), "get", encode_one(&key).unwrap())
            .unwrap();
        let got: Option<String> = decode_one(&reply).unwrap();
        assert_eq!(got.as_deref(), Some("v"));
    }
}

macro_rules! fifty {
    ($($name:ident $n:literal),* $(,)?) => {
        $(#[test] fn $name() { one_test($n) })*
    };
}

fifty!(
    t01 1, t02 2, t03 3, t04 4, t05 5, t06 6, t07 7, t08 8, t09 9, t10 10,
    t11 11, t12 12, t13 13, t14 14, t15 15, t16 16, t17 17, t18 18, t19 19, t20 20,
    t21 21, t22 22, t23 23, t24 24, t25 25, t26 26, t27 27, t28 28, t29 29, t30 30,
    t31 31, t32 32, t33 33, t34 34, t35 35, t36 36, t37 37, t38 38, t39 39, t40 40,
    t41 41, t42 42, t43 43, t44 44, t45 45, t46 46, t47 47, t48 48, t49 49, t50 50,
);
