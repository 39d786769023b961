//! The ICP ledger, the cycles ledger and the cycles minting canister, as icp-cli calls them.

use crate::support::*;
use candid::{CandidType, Nat, Principal};
use drydock_replica::system::{
    account_identifier, CYCLES_LEDGER, CYCLES_MINTING_CANISTER, GENESIS_CYCLES, GENESIS_ICP_E8S,
    ICP_LEDGER,
};
use drydock_replica::{CallError, ErrorCode, MethodKind, UserError};
use ic_management_canister_types::{CanisterIdRecord, CanisterSettings, CanisterStatusResult};
use serde::de::DeserializeOwned;
use serde::Deserialize;

const CYCLES_FEE: u128 = 100_000_000;
const ICP_FEE: u64 = 10_000;

#[derive(CandidType, Deserialize, Clone, Debug)]
struct Account {
    owner: Principal,
    subaccount: Option<Vec<u8>>,
}

fn account(owner: Principal) -> Account {
    Account {
        owner,
        subaccount: None,
    }
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct TransferArg {
    from_subaccount: Option<Vec<u8>>,
    to: Account,
    amount: Nat,
    fee: Option<Nat>,
    memo: Option<Vec<u8>>,
    created_at_time: Option<u64>,
}

fn transfer_arg(to: Principal, amount: u128) -> TransferArg {
    TransferArg {
        from_subaccount: None,
        to: account(to),
        amount: Nat::from(amount),
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
enum TransferError {
    BadFee { expected_fee: Nat },
    BadBurn { min_burn_amount: Nat },
    InsufficientFunds { balance: Nat },
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    TemporarilyUnavailable,
    Duplicate { duplicate_of: Nat },
    GenericError { error_code: Nat, message: String },
}

#[derive(CandidType, Deserialize, Clone, Copy, Debug, PartialEq)]
struct Tokens {
    e8s: u64,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct LegacyTransferArgs {
    memo: u64,
    amount: Tokens,
    fee: Tokens,
    from_subaccount: Option<Vec<u8>>,
    #[serde(with = "serde_bytes")]
    to: Vec<u8>,
    created_at_time: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
enum LegacyTransferError {
    BadFee { expected_fee: Tokens },
    InsufficientFunds { balance: Tokens },
    TxTooOld { allowed_window_nanos: u64 },
    TxCreatedInFuture,
    TxDuplicate { duplicate_of: u64 },
}

#[derive(CandidType, Deserialize, Clone, Debug)]
enum SubnetSelection {
    Filter { subnet_type: Option<String> },
    Subnet { subnet: Principal },
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct CreationArgs {
    subnet_selection: Option<SubnetSelection>,
    settings: Option<CanisterSettings>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct CreateCanisterArgs {
    from_subaccount: Option<Vec<u8>>,
    created_at_time: Option<u64>,
    amount: Nat,
    creation_args: Option<CreationArgs>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
enum CreateCanisterResponse {
    Ok {
        block_id: Nat,
        canister_id: Principal,
    },
    Err(CreateCanisterError),
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
enum CreateCanisterError {
    GenericError {
        message: String,
        error_code: Nat,
    },
    TemporarilyUnavailable,
    Duplicate {
        duplicate_of: Nat,
        canister_id: Option<Principal>,
    },
    CreatedInFuture {
        ledger_time: u64,
    },
    FailedToCreate {
        error: String,
        refund_block: Option<Nat>,
        fee_block: Option<Nat>,
    },
    TooOld,
    InsufficientFunds {
        balance: Nat,
    },
}

fn create_args(amount: u128, creation_args: Option<CreationArgs>) -> CreateCanisterArgs {
    CreateCanisterArgs {
        from_subaccount: None,
        created_at_time: None,
        amount: Nat::from(amount),
        creation_args,
    }
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct WithdrawArgs {
    amount: Nat,
    from_subaccount: Option<Vec<u8>>,
    to: Principal,
    created_at_time: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct NotifyMintArgs {
    block_index: u64,
    deposit_memo: Option<Vec<u8>>,
    to_subaccount: Option<Vec<u8>>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
struct NotifyMintOk {
    balance: Nat,
    block_index: Nat,
    minted: Nat,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
enum NotifyError {
    Refunded {
        reason: String,
        block_index: Option<u64>,
    },
    Processing,
    TransactionTooOld(u64),
    InvalidTransaction(String),
    Other {
        error_code: u64,
        error_message: String,
    },
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct NotifyCreateCanisterArg {
    block_index: u64,
    controller: Principal,
    subnet_selection: Option<SubnetSelection>,
    settings: Option<CanisterSettings>,
}

#[derive(CandidType, Deserialize, Debug)]
struct ConversionRateData {
    xdr_permyriad_per_icp: u64,
}

#[derive(CandidType, Deserialize, Debug)]
struct ConversionRateResponse {
    data: ConversionRateData,
}

fn update<A: CandidType, R: DeserializeOwned + CandidType>(
    env: &mut Env,
    sender: Principal,
    canister: Principal,
    method: &str,
    arg: &A,
) -> Result<R, UserError> {
    let bytes = candid::encode_one(arg).unwrap();
    match env.replica.update(sender, canister, method, &bytes) {
        Ok(reply) => Ok(candid::decode_one(&reply).unwrap()),
        Err(CallError::User(e)) => Err(e),
        Err(CallError::Replica(e)) => panic!("replica failure: {e}"),
    }
}

fn query<R: DeserializeOwned + CandidType>(
    env: &mut Env,
    canister: Principal,
    method: &str,
    arg: &[u8],
) -> Result<R, UserError> {
    match env.replica.query(user(), canister, method, arg) {
        Ok(reply) => Ok(candid::decode_one(&reply).unwrap()),
        Err(CallError::User(e)) => Err(e),
        Err(CallError::Replica(e)) => panic!("replica failure: {e}"),
    }
}

fn balance(env: &mut Env, ledger: Principal, owner: Principal) -> u128 {
    let arg = candid::encode_one(account(owner)).unwrap();
    let n: Nat = query(env, ledger, "icrc1_balance_of", &arg).unwrap();
    u128::try_from(&n.0).unwrap()
}

fn anon() -> Principal {
    Principal::anonymous()
}

/// The CMC's account for `caller` on the ICP ledger.
fn cmc_account(caller: Principal) -> Vec<u8> {
    let bytes = caller.as_slice();
    let mut sub = [0u8; 32];
    sub[0] = bytes.len() as u8;
    sub[1..1 + bytes.len()].copy_from_slice(bytes);
    account_identifier(&CYCLES_MINTING_CANISTER, &sub).to_vec()
}

fn legacy(to: Vec<u8>, e8s: u64, memo: u64) -> LegacyTransferArgs {
    LegacyTransferArgs {
        memo,
        amount: Tokens { e8s },
        fee: Tokens { e8s: ICP_FEE },
        from_subaccount: None,
        to,
        created_at_time: None,
    }
}

#[test]
fn the_anonymous_principal_holds_icp_and_cycles_at_genesis_and_others_hold_nothing() {
    let mut env = Env::new();
    assert_eq!(
        balance(&mut env, ICP_LEDGER, anon()),
        GENESIS_ICP_E8S as u128
    );
    assert_eq!(balance(&mut env, CYCLES_LEDGER, anon()), GENESIS_CYCLES);
    assert_eq!(balance(&mut env, ICP_LEDGER, user()), 0);
    assert_eq!(balance(&mut env, CYCLES_LEDGER, user()), 0);
}

#[test]
fn ledgers_answer_fee_decimals_and_symbol() {
    let mut env = Env::new();
    let empty = candid::encode_args(()).unwrap();
    let fee: Nat = query(&mut env, ICP_LEDGER, "icrc1_fee", &empty).unwrap();
    assert_eq!(fee, Nat::from(ICP_FEE));
    let decimals: u8 = query(&mut env, ICP_LEDGER, "icrc1_decimals", &empty).unwrap();
    assert_eq!(decimals, 8);
    let symbol: String = query(&mut env, ICP_LEDGER, "icrc1_symbol", &empty).unwrap();
    assert_eq!(symbol, "ICP");
    let fee: Nat = query(&mut env, CYCLES_LEDGER, "icrc1_fee", &empty).unwrap();
    assert_eq!(fee, Nat::from(CYCLES_FEE));
    let decimals: u8 = query(&mut env, CYCLES_LEDGER, "icrc1_decimals", &empty).unwrap();
    assert_eq!(decimals, 12);
    assert_eq!(
        env.replica
            .method_kind(&CYCLES_LEDGER, "create_canister")
            .unwrap(),
        Some(MethodKind::Update)
    );
    assert_eq!(
        env.replica
            .method_kind(&ICP_LEDGER, "icrc1_balance_of")
            .unwrap(),
        Some(MethodKind::Query)
    );
}

#[test]
fn a_cycles_transfer_moves_the_amount_burns_the_fee_and_survives_a_reopen() {
    let mut env = Env::new();
    let mut arg = transfer_arg(user(), 1_000_000_000_000_000);
    arg.fee = Some(Nat::from(CYCLES_FEE));
    let block: Result<Nat, TransferError> =
        update(&mut env, anon(), CYCLES_LEDGER, "icrc1_transfer", &arg).unwrap();
    assert!(block.is_ok(), "{block:?}");
    assert_eq!(
        balance(&mut env, CYCLES_LEDGER, user()),
        1_000_000_000_000_000
    );

    let r: Result<Nat, TransferError> = update(
        &mut env,
        user(),
        CYCLES_LEDGER,
        "icrc1_transfer",
        &transfer_arg(eve(), 5_000),
    )
    .unwrap();
    assert!(r.unwrap() > block.unwrap());
    env.reopen();
    assert_eq!(
        balance(&mut env, CYCLES_LEDGER, user()),
        1_000_000_000_000_000 - 5_000 - CYCLES_FEE
    );
    assert_eq!(balance(&mut env, CYCLES_LEDGER, eve()), 5_000);
    assert_eq!(
        balance(&mut env, CYCLES_LEDGER, anon()),
        GENESIS_CYCLES - 1_000_000_000_000_000 - CYCLES_FEE
    );
}

#[test]
fn a_transfer_beyond_the_balance_is_refused_and_changes_nothing() {
    let mut env = Env::new();
    let _: Result<Nat, TransferError> = update(
        &mut env,
        anon(),
        CYCLES_LEDGER,
        "icrc1_transfer",
        &transfer_arg(user(), 1_000),
    )
    .unwrap();
    let r: Result<Nat, TransferError> = update(
        &mut env,
        user(),
        CYCLES_LEDGER,
        "icrc1_transfer",
        &transfer_arg(eve(), 1_000),
    )
    .unwrap();
    assert_eq!(
        r,
        Err(TransferError::InsufficientFunds {
            balance: Nat::from(1_000u32)
        })
    );
    let r: Result<u64, LegacyTransferError> = update(
        &mut env,
        user(),
        ICP_LEDGER,
        "transfer",
        &legacy(account_identifier(&eve(), &[0; 32]).to_vec(), 1, 0),
    )
    .unwrap();
    assert_eq!(
        r,
        Err(LegacyTransferError::InsufficientFunds {
            balance: Tokens { e8s: 0 }
        })
    );
    env.reopen();
    assert_eq!(balance(&mut env, CYCLES_LEDGER, user()), 1_000);
    assert_eq!(balance(&mut env, CYCLES_LEDGER, eve()), 0);
}

#[test]
fn a_wrong_fee_is_refused_with_the_expected_one() {
    let mut env = Env::new();
    let mut arg = transfer_arg(user(), 1);
    arg.fee = Some(Nat::from(1u8));
    let r: Result<Nat, TransferError> =
        update(&mut env, anon(), ICP_LEDGER, "icrc1_transfer", &arg).unwrap();
    assert_eq!(
        r,
        Err(TransferError::BadFee {
            expected_fee: Nat::from(ICP_FEE)
        })
    );
    let mut arg = legacy(account_identifier(&user(), &[0; 32]).to_vec(), 1, 0);
    arg.fee = Tokens { e8s: 0 };
    let r: Result<u64, LegacyTransferError> =
        update(&mut env, anon(), ICP_LEDGER, "transfer", &arg).unwrap();
    assert_eq!(
        r,
        Err(LegacyTransferError::BadFee {
            expected_fee: Tokens { e8s: ICP_FEE }
        })
    );
}

#[test]
fn a_legacy_icp_transfer_by_account_identifier_shows_in_the_icrc1_balance() {
    let mut env = Env::new();
    // What `icp network start` does for every identity.
    let to = account_identifier(&user(), &[0; 32]).to_vec();
    let r: Result<u64, LegacyTransferError> = update(
        &mut env,
        anon(),
        ICP_LEDGER,
        "transfer",
        &legacy(to, 100_000_000_000_000, 0),
    )
    .unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(balance(&mut env, ICP_LEDGER, user()), 100_000_000_000_000);
    assert_eq!(
        balance(&mut env, ICP_LEDGER, anon()),
        GENESIS_ICP_E8S as u128 - 100_000_000_000_000 - ICP_FEE as u128
    );
    // And ICRC-1 from there.
    let r: Result<Nat, TransferError> = update(
        &mut env,
        user(),
        ICP_LEDGER,
        "icrc1_transfer",
        &transfer_arg(eve(), 7),
    )
    .unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(balance(&mut env, ICP_LEDGER, eve()), 7);
}

#[test]
fn create_canister_through_the_cycles_ledger_gives_a_canister_controlled_by_the_caller() {
    let mut env = Env::new();
    let _: Result<Nat, TransferError> = update(
        &mut env,
        anon(),
        CYCLES_LEDGER,
        "icrc1_transfer",
        &transfer_arg(user(), 10_000_000_000_000),
    )
    .unwrap();
    let subnets: Vec<Principal> = query(
        &mut env,
        CYCLES_MINTING_CANISTER,
        "get_default_subnets",
        &candid::encode_args(()).unwrap(),
    )
    .unwrap();
    assert_eq!(subnets, vec![env.replica.subnet_id()]);
    // As `icp canister create` sends it: on the subnet the CMC named, with settings.
    let args = create_args(
        2_000_000_000_000,
        Some(CreationArgs {
            subnet_selection: Some(SubnetSelection::Subnet { subnet: subnets[0] }),
            settings: Some(CanisterSettings::default()),
        }),
    );
    let r: CreateCanisterResponse =
        update(&mut env, user(), CYCLES_LEDGER, "create_canister", &args).unwrap();
    let CreateCanisterResponse::Ok { canister_id, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        balance(&mut env, CYCLES_LEDGER, user()),
        10_000_000_000_000 - 2_000_000_000_000 - CYCLES_FEE
    );
    let status: CanisterStatusResult = env
        .mgmt(user(), "canister_status", &CanisterIdRecord { canister_id })
        .unwrap();
    assert_eq!(status.settings.controllers, vec![user()]);
    assert_eq!(status.cycles, Nat::from(2_000_000_000_000u64));
    env.install(canister_id, wasm("kv"));
    // Someone else does not control it.
    let e = env
        .mgmt::<_, CanisterStatusResult>(
            eve(),
            "canister_status",
            &CanisterIdRecord { canister_id },
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CanisterInvalidController);
}

#[test]
fn create_canister_with_controllers_and_without_funds() {
    let mut env = Env::new();
    // As `icp network start` creates the proxy canister: from anonymous, named controllers.
    let args = create_args(
        10_000_000_000_000,
        Some(CreationArgs {
            subnet_selection: None,
            settings: Some(CanisterSettings {
                controllers: Some(vec![anon(), user()]),
                ..Default::default()
            }),
        }),
    );
    let r: CreateCanisterResponse =
        update(&mut env, anon(), CYCLES_LEDGER, "create_canister", &args).unwrap();
    let CreateCanisterResponse::Ok { canister_id, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        env.replica
            .canister(&canister_id)
            .unwrap()
            .settings
            .controllers,
        vec![anon(), user()]
    );
    let before = env.replica.canister_ids().len();
    let r: CreateCanisterResponse = update(
        &mut env,
        eve(),
        CYCLES_LEDGER,
        "create_canister",
        &create_args(1, None),
    )
    .unwrap();
    assert_eq!(
        r,
        CreateCanisterResponse::Err(CreateCanisterError::InsufficientFunds {
            balance: Nat::from(0u8)
        })
    );
    // A subnet drydock does not have is refused, and the caller keeps the cycles.
    let args = create_args(
        1_000,
        Some(CreationArgs {
            subnet_selection: Some(SubnetSelection::Subnet {
                subnet: Principal::self_authenticating([9u8; 44]),
            }),
            settings: None,
        }),
    );
    let r: CreateCanisterResponse =
        update(&mut env, anon(), CYCLES_LEDGER, "create_canister", &args).unwrap();
    assert!(
        matches!(&r, CreateCanisterResponse::Err(CreateCanisterError::FailedToCreate { error, .. }) if error.contains("does not exist")),
        "{r:?}"
    );
    assert_eq!(env.replica.canister_ids().len(), before);
}

#[test]
fn withdraw_tops_up_a_canister() {
    let mut env = Env::new();
    let id = env.create();
    let before = env.replica.canister(&id).unwrap().cycles;
    let r: Result<Nat, candid::Reserved> = update(
        &mut env,
        anon(),
        CYCLES_LEDGER,
        "withdraw",
        &WithdrawArgs {
            amount: Nat::from(1_000_000u32),
            from_subaccount: None,
            to: id,
            created_at_time: None,
        },
    )
    .unwrap();
    assert!(r.is_ok());
    env.reopen();
    assert_eq!(
        env.replica.canister(&id).unwrap().cycles,
        before + 1_000_000
    );
}

#[test]
fn the_cmc_mints_cycles_and_creates_canisters_from_icp_sent_to_it() {
    let mut env = Env::new();
    let rate: ConversionRateResponse = query(
        &mut env,
        CYCLES_MINTING_CANISTER,
        "get_icp_xdr_conversion_rate",
        &candid::encode_args(()).unwrap(),
    )
    .unwrap();
    let per_e8s = rate.data.xdr_permyriad_per_icp as u128;
    // `icp cycles mint --icp 1`, by the anonymous identity.
    let block: Result<u64, LegacyTransferError> = update(
        &mut env,
        anon(),
        ICP_LEDGER,
        "transfer",
        &legacy(cmc_account(anon()), 100_000_000, 0x544e494d),
    )
    .unwrap();
    let block = block.unwrap();
    let notify = NotifyMintArgs {
        block_index: block,
        deposit_memo: None,
        to_subaccount: None,
    };
    let r: Result<NotifyMintOk, NotifyError> = update(
        &mut env,
        anon(),
        CYCLES_MINTING_CANISTER,
        "notify_mint_cycles",
        &notify,
    )
    .unwrap();
    let ok = r.unwrap();
    assert_eq!(ok.minted, Nat::from(100_000_000 * per_e8s));
    // Notifying again gives the same answer and mints nothing more.
    let again: Result<NotifyMintOk, NotifyError> = update(
        &mut env,
        anon(),
        CYCLES_MINTING_CANISTER,
        "notify_mint_cycles",
        &notify,
    )
    .unwrap();
    assert_eq!(again, Ok(ok.clone()));
    // Someone else cannot claim it.
    let r: Result<NotifyMintOk, NotifyError> = update(
        &mut env,
        eve(),
        CYCLES_MINTING_CANISTER,
        "notify_mint_cycles",
        &NotifyMintArgs {
            block_index: block + 1_000,
            deposit_memo: None,
            to_subaccount: None,
        },
    )
    .unwrap();
    assert!(
        matches!(r, Err(NotifyError::InvalidTransaction(_))),
        "{r:?}"
    );

    // `icp canister create --with-icp 1`, by user (funded first).
    let _: Result<u64, LegacyTransferError> = update(
        &mut env,
        anon(),
        ICP_LEDGER,
        "transfer",
        &legacy(
            account_identifier(&user(), &[0; 32]).to_vec(),
            1_000_000_000,
            0,
        ),
    )
    .unwrap();
    let block: Result<u64, LegacyTransferError> = update(
        &mut env,
        user(),
        ICP_LEDGER,
        "transfer",
        &legacy(cmc_account(user()), 100_000_000, 0x41455243),
    )
    .unwrap();
    let arg = NotifyCreateCanisterArg {
        block_index: block.unwrap(),
        controller: user(),
        subnet_selection: Some(SubnetSelection::Subnet {
            subnet: env.replica.subnet_id(),
        }),
        settings: None,
    };
    let r: Result<Principal, NotifyError> = update(
        &mut env,
        user(),
        CYCLES_MINTING_CANISTER,
        "notify_create_canister",
        &arg,
    )
    .unwrap();
    let id = r.unwrap();
    let record = env.replica.canister(&id).unwrap();
    assert_eq!(record.settings.controllers, vec![user()]);
    assert_eq!(record.cycles, 100_000_000 * per_e8s);
    env.reopen();
    let r: Result<Principal, NotifyError> = update(
        &mut env,
        user(),
        CYCLES_MINTING_CANISTER,
        "notify_create_canister",
        &arg,
    )
    .unwrap();
    assert_eq!(r, Ok(id));
}

#[test]
fn bad_arguments_and_unknown_methods_are_clear_rejections() {
    let mut env = Env::new();
    let e = env
        .replica
        .update(user(), CYCLES_LEDGER, "icrc1_transfer", b"not candid")
        .unwrap_err();
    let CallError::User(e) = e else { panic!("{e}") };
    assert_eq!(e.code, ErrorCode::CanisterCalledTrap);
    assert!(e.message.contains("icrc1_transfer"), "{e}");
    let mut arg = transfer_arg(user(), 1);
    arg.to.subaccount = Some(vec![1, 2, 3]);
    let e = update::<_, Result<Nat, TransferError>>(
        &mut env,
        anon(),
        CYCLES_LEDGER,
        "icrc1_transfer",
        &arg,
    )
    .unwrap_err();
    assert!(e.message.contains("32 bytes"), "{e}");
    let e = env
        .replica
        .query(user(), ICP_LEDGER, "icrc1_transfer", &[])
        .unwrap_err();
    let CallError::User(e) = e else { panic!("{e}") };
    assert_eq!(e.code, ErrorCode::CanisterMethodNotFound);
    let e = update::<_, ()>(&mut env, user(), CYCLES_MINTING_CANISTER, "nope", &()).unwrap_err();
    assert_eq!(e.code, ErrorCode::CanisterMethodNotFound);
    // A query method called as an update answers as the query does.
    let n: Nat = update(
        &mut env,
        user(),
        ICP_LEDGER,
        "icrc1_balance_of",
        &account(user()),
    )
    .unwrap();
    assert_eq!(n, Nat::from(0u8));
}
