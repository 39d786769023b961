//! Candid upgrade-compatibility findings: one per break, with a path and a hint.

use drydock_compat::candid::{check_init_args, check_service};
use drydock_compat::{Area, CompatError, Finding, Severity};

fn errors(fs: &[Finding]) -> Vec<&Finding> {
    fs.iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

fn warnings(fs: &[Finding]) -> Vec<&Finding> {
    fs.iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect()
}

fn assert_compatible(old: &str, new: &str) {
    let fs = check_service(old, new).expect("both texts parse");
    assert!(errors(&fs).is_empty(), "unexpected errors: {fs:#?}");
}

const LEDGER_OLD: &str = r#"
type Account = record { owner : principal; subaccount : opt blob };
type CreateArgs = record { name : text; initial : nat };
type GetError = variant { Unauthorized; Internal : text };
type Item = record { id : nat64; name : text; balance : nat; memo : opt text };
service : {
  create : (CreateArgs) -> (nat64);
  get : (nat64) -> (variant { Ok : Item; Err : GetError }) query;
  delete : (nat64) -> ();
  balance_of : (Account) -> (nat) query;
  notify : (text) -> () oneway;
}
"#;

#[test]
fn identical_services_are_compatible() {
    let fs = check_service(LEDGER_OLD, LEDGER_OLD).unwrap();
    assert!(fs.is_empty(), "{fs:#?}");
}

#[test]
fn non_optional_field_added_to_an_argument_is_flagged() {
    let new = LEDGER_OLD.replace(
        "type CreateArgs = record { name : text; initial : nat };",
        "type CreateArgs = record { name : text; initial : nat; owner : principal };",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    let f = errs[0];
    assert_eq!(f.area, Area::Candid);
    assert_eq!(f.path, "method `create`: argument 1, record field `owner`");
    assert_eq!(
        f.message,
        "added as non-optional `principal` — old clients do not send it"
    );
    assert_eq!(f.hint.as_deref(), Some("make it `opt principal`"));
}

#[test]
fn optional_field_added_to_an_argument_passes() {
    let new = LEDGER_OLD.replace(
        "type CreateArgs = record { name : text; initial : nat };",
        "type CreateArgs = record { name : text; initial : nat; owner : opt principal; tag : null; x : reserved };",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    assert!(fs.is_empty(), "{fs:#?}");
}

#[test]
fn variant_tag_added_to_a_result_is_flagged() {
    let new = LEDGER_OLD.replace(
        "variant { Ok : Item; Err : GetError }",
        "variant { Ok : Item; Err : GetError; NotFound }",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(
        errs[0].path,
        "method `get`: result 1, variant tag `NotFound`"
    );
    assert_eq!(errs[0].message, "added — old clients cannot decode it");
    assert_eq!(
        errs[0].hint.as_deref(),
        Some("add tags only to variants in argument position, or wrap the result in a new method")
    );
    assert_eq!(errs[0].code, "candid-tag-added");
}

#[test]
fn variant_tag_added_inside_a_named_result_type_is_flagged() {
    let new = LEDGER_OLD.replace(
        "type GetError = variant { Unauthorized; Internal : text };",
        "type GetError = variant { Unauthorized; Internal : text; RateLimited : nat };",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(
        errs[0].path,
        "method `get`: result 1, variant tag `Err`, variant tag `RateLimited`"
    );
}

#[test]
fn variant_tag_added_to_an_argument_passes_and_removed_is_flagged() {
    let old = "service : { set : (variant { A; B }) -> () }";
    assert_compatible(old, "service : { set : (variant { A; B; C : nat }) -> () }");
    let fs = check_service(old, "service : { set : (variant { A }) -> () }").unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(errs[0].path, "method `set`: argument 1, variant tag `B`");
    assert_eq!(errs[0].code, "candid-tag-removed");
}

#[test]
fn removed_method_is_flagged() {
    let new = LEDGER_OLD.replace("  delete : (nat64) -> ();\n", "");
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(errs[0].code, "candid-method-removed");
    assert_eq!(errs[0].path, "method `delete`");
    assert_eq!(errs[0].message, "removed — old clients still call it");
    assert_eq!(
        errs[0].hint.as_deref(),
        Some("keep the method (it may trap with a deprecation message)")
    );
}

#[test]
fn added_method_passes() {
    let new = LEDGER_OLD.replace(
        "service : {",
        "service : {\n  list : (opt nat64, nat32) -> (vec Item) query;",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    assert!(fs.is_empty(), "{fs:#?}");
}

#[test]
fn widening_nat_to_int_in_an_argument_passes_but_not_in_a_result() {
    let old = "service : { f : (nat) -> (nat) }";
    assert_compatible(old, "service : { f : (int) -> (nat) }");
    let fs = check_service(old, "service : { f : (nat) -> (int) }").unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(errs[0].path, "method `f`: result 1");
    assert_eq!(errs[0].code, "candid-type-changed");
    assert!(
        errs[0].message.starts_with("widened from `nat` to `int`"),
        "{}",
        errs[0].message
    );
}

#[test]
fn changed_type_is_flagged_with_both_types() {
    let new = LEDGER_OLD.replace(
        "type CreateArgs = record { name : text; initial : nat };",
        "type CreateArgs = record { name : nat; initial : nat };",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(
        errs[0].path,
        "method `create`: argument 1, record field `name`"
    );
    assert_eq!(
        errs[0].message,
        "changed from `text` to `nat` — old clients send a `text`"
    );
}

#[test]
fn field_removed_from_a_result_is_flagged_unless_optional() {
    // `memo : opt text` may go; `balance : nat` may not.
    let new = LEDGER_OLD.replace(
        "type Item = record { id : nat64; name : text; balance : nat; memo : opt text };",
        "type Item = record { id : nat64; name : text };",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(
        errs[0].path,
        "method `get`: result 1, variant tag `Ok`, record field `balance`"
    );
    assert_eq!(errs[0].code, "candid-field-removed");
}

#[test]
fn mode_change_is_flagged() {
    let new = LEDGER_OLD.replace(
        "balance_of : (Account) -> (nat) query;",
        "balance_of : (Account) -> (nat);",
    );
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(errs[0].code, "candid-mode-changed");
    assert_eq!(errs[0].path, "method `balance_of`");
    assert!(
        errs[0].message.contains("from query to update"),
        "{}",
        errs[0].message
    );

    let new = LEDGER_OLD.replace("notify : (text) -> () oneway;", "notify : (text) -> ();");
    let fs = check_service(LEDGER_OLD, &new).unwrap();
    assert_eq!(errors(&fs).len(), 1, "{fs:#?}");
    assert_eq!(errors(&fs)[0].code, "candid-mode-changed");
}

#[test]
fn arity_changes() {
    let old = "service : { f : (nat) -> (nat, text) }";
    // A new trailing optional argument and an extra result are fine.
    assert_compatible(
        old,
        "service : { f : (nat, opt text) -> (nat, text, bool) }",
    );
    let fs = check_service(old, "service : { f : (nat, text) -> (nat) }").unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 2, "{fs:#?}");
    assert_eq!(errs[0].path, "method `f`: argument 2");
    assert_eq!(errs[0].hint.as_deref(), Some("make it `opt text`"));
    assert_eq!(errs[1].path, "method `f`: result 2");
}

#[test]
fn several_breaks_give_several_findings() {
    let new = r#"
type Account = record { owner : principal; subaccount : opt blob };
type CreateArgs = record { name : text; initial : nat; owner : principal };
type GetError = variant { Unauthorized; Internal : text; NotFound };
type Item = record { id : nat64; name : text; balance : nat; memo : opt text };
service : {
  create : (CreateArgs) -> (nat64);
  get : (nat64) -> (variant { Ok : Item; Err : GetError }) query;
  balance_of : (Account) -> (nat);
  notify : (text) -> () oneway;
}
"#;
    let fs = check_service(LEDGER_OLD, new).unwrap();
    let codes: Vec<&str> = errors(&fs).iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "candid-mode-changed",
            "candid-field-added",
            "candid-method-removed",
            "candid-tag-added"
        ],
        "{fs:#?}"
    );
    assert_eq!(
        format!("{}", errors(&fs)[1]),
        "error[candid-field-added] method `create`: argument 1, record field `owner`: \
         added as non-optional `principal` — old clients do not send it — make it `opt principal`"
    );
}

#[test]
fn special_opt_is_a_warning_with_a_path() {
    let old = "service : { put : (record { memo : opt text }) -> (record { tag : opt nat }) }";
    let new = "service : { put : (record { memo : opt nat }) -> (record { tag : opt text }) }";
    let fs = check_service(old, new).unwrap();
    assert!(errors(&fs).is_empty(), "{fs:#?}");
    let ws = warnings(&fs);
    assert_eq!(ws.len(), 2, "{fs:#?}");
    assert!(ws.iter().all(|w| w.code == "candid-special-opt"));
    assert_eq!(ws[0].path, "method `put`: argument 1, record field `memo`");
    assert_eq!(ws[1].path, "method `put`: result 1, record field `tag`");
    assert!(
        ws[0].message.contains("`opt text` to `opt nat`"),
        "{}",
        ws[0].message
    );
}

#[test]
fn recursive_types_terminate() {
    let old = r#"
type Tree = variant { Leaf : nat; Node : record { left : Tree; right : Tree } };
type List = opt record { head : nat; tail : List };
service : { sum : (Tree) -> (nat) query; items : () -> (List) query }
"#;
    assert_compatible(old, old);
    // Same shapes under other names, and the list gains an optional field: still fine.
    let renamed = r#"
type T = variant { Leaf : nat; Node : record { left : T; right : T } };
type L = opt record { head : nat; tail : L; extra : opt text };
service : { sum : (T) -> (nat) query; items : () -> (L) query }
"#;
    assert_compatible(old, renamed);
    // A tag added to a recursive result is found once, inside the recursion.
    let old = "type T = variant { Leaf : nat; Node : vec T }; service : { get : () -> (T) }";
    let new = "type T = variant { Leaf : nat; Node : vec T; Empty }; service : { get : () -> (T) }";
    let fs = check_service(old, new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(errs[0].path, "method `get`: result 1, variant tag `Empty`");
}

#[test]
fn shared_type_change_is_reported_at_each_method() {
    let old = "type A = record { x : nat }; service : { f : (A) -> (); g : (A) -> () }";
    let new = "type A = record { x : text }; service : { f : (A) -> (); g : (A) -> () }";
    let fs = check_service(old, new).unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 2, "{fs:#?}");
    assert_eq!(errs[0].path, "method `f`: argument 1, record field `x`");
    assert_eq!(errs[1].path, "method `g`: argument 1");
    assert!(
        errs[1].message.contains("see method `f`: argument 1"),
        "{}",
        errs[1].message
    );
}

#[test]
fn service_init_args_are_checked() {
    let old = "service : (record { admin : principal }) -> { ping : () -> () }";
    assert_compatible(
        old,
        "service : (record { admin : principal; limit : opt nat }) -> { ping : () -> () }",
    );
    let fs = check_service(
        old,
        "service : (record { admin : principal; limit : nat }) -> { ping : () -> () }",
    )
    .unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(errs[0].path, "init args: argument 1, record field `limit`");
}

#[test]
fn candid_args_are_checked() {
    assert!(
        check_init_args("(nat, opt text)", "(int, opt text, opt bool)")
            .unwrap()
            .is_empty()
    );
    let fs = check_init_args(
        "type Config = record { admin : principal }; (Config)",
        "type Config = record { admin : principal; fee : nat }; (Config, nat)",
    )
    .unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 2, "{fs:#?}");
    assert_eq!(errs[0].path, "init args: argument 1, record field `fee`");
    assert_eq!(errs[1].path, "init args: argument 2");
    assert_eq!(errs[1].hint.as_deref(), Some("make it `opt nat`"));
}

#[test]
fn parse_errors_are_compat_errors() {
    match check_service(
        "service : { f : (nat) -> () }",
        "service : { f : (nat -> () }",
    ) {
        Err(CompatError::Candid { what, cause }) => {
            assert_eq!(what, "new candid:service");
            assert!(!cause.is_empty());
        }
        other => panic!("expected a Candid error, got {other:?}"),
    }
    match check_service("type A = B; service : {}", "service : {}") {
        Err(CompatError::Candid { what, .. }) => assert_eq!(what, "old candid:service"),
        other => panic!("expected a Candid error, got {other:?}"),
    }
    match check_init_args("(nat", "(nat)") {
        Err(CompatError::Candid { what, .. }) => assert_eq!(what, "old candid:args"),
        other => panic!("expected a Candid error, got {other:?}"),
    }
}

#[test]
fn service_given_by_name_and_method_types_by_name() {
    let old = "type F = func (nat) -> (nat) query; type S = service { f : F }; service : S";
    let new = "type G = func (int) -> (nat) query; service : { f : G; g : G }";
    assert_compatible(old, new);
}

#[test]
fn function_and_service_references() {
    let old = "type CB = func (nat) -> (); service : { subscribe : (CB) -> () }";
    // The callback is called by the new service with `nat`: the callback type is an argument,
    // so the new callback type must accept what old clients' callbacks accept.
    let new = "type CB = func (int) -> (); service : { subscribe : (CB) -> () }";
    let fs = check_service(old, new).unwrap();
    assert_eq!(errors(&fs).len(), 1, "{fs:#?}");
    assert_eq!(
        errors(&fs)[0].path,
        "method `subscribe`: argument 1, func argument 1"
    );
}

/// The walk agrees with candid's own `subtype` check: it reports an error exactly when candid
/// rejects the change, and never needs the generic fallback finding.
mod agreement {
    use super::*;
    use candid_parser::candid::types::subtype::{subtype_with_config, OptReport};
    use candid_parser::candid::types::{Type, TypeEnv};
    use proptest::prelude::*;

    const PRIMS: &[&str] = &[
        "nat",
        "int",
        "nat8",
        "text",
        "bool",
        "null",
        "reserved",
        "principal",
        "empty",
    ];

    /// An (old, new) pair of type texts, correlated so that many pairs are compatible.
    fn pair() -> impl Strategy<Value = (String, String)> {
        let prim = prop::sample::select(PRIMS);
        let leaf = prop_oneof![
            3 => prim.clone().prop_map(|p| (p.to_string(), p.to_string())),
            2 => (prim.clone(), prim).prop_map(|(a, b)| (a.to_string(), b.to_string())),
            1 => Just(("L".to_string(), "L".to_string())),
        ];
        leaf.prop_recursive(4, 24, 3, |inner| {
            // Each field or tag: in both (0), only old (1), only new (2).
            let fields = prop::collection::vec((0..3u8, inner.clone()), 0..3);
            prop_oneof![
                inner
                    .clone()
                    .prop_map(|(a, b)| (format!("opt {a}"), format!("opt {b}"))),
                inner.clone().prop_map(|(a, b)| (format!("opt {a}"), b)),
                inner.clone().prop_map(|(a, b)| (a, format!("opt {b}"))),
                inner.prop_map(|(a, b)| (format!("vec {a}"), format!("vec {b}"))),
                fields.clone().prop_map(|fs| compose("record", "f", &fs)),
                fields.prop_map(|fs| compose("variant", "T", &fs)),
            ]
        })
    }

    fn compose(kw: &str, prefix: &str, fs: &[(u8, (String, String))]) -> (String, String) {
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for (i, (side, (a, b))) in fs.iter().enumerate() {
            if *side != 2 {
                old.push(format!("{prefix}{i} : {a}"));
            }
            if *side != 1 {
                new.push(format!("{prefix}{i} : {b}"));
            }
        }
        (
            format!("{kw} {{ {} }}", old.join("; ")),
            format!("{kw} {{ {} }}", new.join("; ")),
        )
    }

    fn service(arg: &str, ret: &str, list: &str) -> String {
        format!(
            "type L = opt record {{ head : {list}; tail : L }};\n\
             service : {{ f : ({arg}) -> ({ret}) query; g : (L) -> (L) }}"
        )
    }

    fn load(text: &str) -> (TypeEnv, Type) {
        let prog: candid_parser::IDLProg = text.parse().unwrap();
        let mut env = TypeEnv::new();
        let actor = candid_parser::check_prog(&mut env, &prog).unwrap().unwrap();
        (env, actor)
    }

    fn candid_accepts(old: &str, new: &str) -> bool {
        let (mut env, new_t) = load(new);
        let (old_env, old_t) = load(old);
        let old_t = env.merge_type(old_env, old_t);
        let mut gamma = std::collections::HashSet::new();
        subtype_with_config(OptReport::Silence, &mut gamma, &env, &new_t, &old_t).is_ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn walk_agrees_with_candid(
            (arg_o, arg_n) in pair(),
            (ret_o, ret_n) in pair(),
            (list_o, list_n) in pair(),
        ) {
            let old = service(&arg_o, &ret_o, &list_o);
            let new = service(&arg_n, &ret_n, &list_n);
            let fs = check_service(&old, &new).unwrap();
            prop_assert!(
                fs.iter().all(|f| f.code != "candid-subtype" && f.code != "candid-truncated"),
                "fallback used:\n{old}\n{new}\n{fs:#?}"
            );
            let breaking = !errors(&fs).is_empty();
            prop_assert_eq!(
                breaking,
                !candid_accepts(&old, &new),
                "disagreement:\nOLD {}\nNEW {}\n{:#?}", old, new, fs
            );
        }
    }
}

#[test]
fn large_and_deep_types_do_not_hang_or_overflow() {
    // A long chain of names (deeper than the walk's depth limit), differing at the end.
    let chain = |last: &str| {
        let mut s = String::new();
        for i in 0..400 {
            s.push_str(&format!("type T{i} = record {{ x : T{} }};\n", i + 1));
        }
        s.push_str(&format!(
            "type T400 = {last};\nservice : {{ f : () -> (T0) }}"
        ));
        s
    };
    let fs = check_service(&chain("nat"), &chain("int")).unwrap();
    assert!(!errors(&fs).is_empty(), "{fs:#?}");
    let fs = check_service(&chain("nat"), &chain("nat")).unwrap();
    assert!(errors(&fs).is_empty(), "{fs:#?}");

    // Shared names reached along exponentially many paths.
    let dag = |last: &str| {
        let mut s = String::new();
        for i in 0..40 {
            s.push_str(&format!(
                "type D{i} = record {{ a : D{n}; b : opt D{n}; c : vec D{n} }};\n",
                n = i + 1
            ));
        }
        s.push_str(&format!(
            "type D40 = {last};\nservice : {{ f : (D0) -> (D0) }}"
        ));
        s
    };
    let fs = check_service(&dag("nat"), &dag("nat")).unwrap();
    assert!(errors(&fs).is_empty(), "{fs:#?}");
    let fs = check_service(&dag("nat"), &dag("text")).unwrap();
    assert!(!errors(&fs).is_empty(), "{fs:#?}");
}

#[test]
fn init_arg_messages_name_deploy_scripts() {
    let fs = check_init_args("(record { a : text })", "(record { a : nat })").unwrap();
    let errs = errors(&fs);
    assert_eq!(errs.len(), 1, "{fs:#?}");
    assert_eq!(errs[0].path, "init args: argument 1, record field `a`");
    assert_eq!(
        errs[0].message,
        "changed from `text` to `nat` — old deploy scripts send a `text`"
    );
}
