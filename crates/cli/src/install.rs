//! `canister install`: reads a Wasm module (plain or gzipped, sent as it is), encodes the init
//! argument and sends `install_code` to the management canister.
//!
//! The argument text is typed by the module's own Candid when the file carries it: the init
//! arguments of a `candid:service` section written as a class (`service : (text) -> {...}`),
//! else a `candid:args` section (`(text)`). Without either it is encoded with the types the
//! text implies. Custom sections are read locally; a module that does not parse here is still
//! sent, so the replica gives the IC's verdict on it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use candid::types::Type;
use candid::{Principal, TypeEnv};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, ChunkHash, InstallChunkedCodeArgs, InstallCodeArgs,
    UpgradeFlags, UploadChunkArgs, WasmMemoryPersistence,
};
use serde_json::json;

use crate::candid_io::{encode_args, signature, Service};
use crate::cli::{InstallMode, Persistence};
use crate::error::CliError;
use crate::output::Output;
use crate::output::{note, warn};
use crate::transport::{management, Transport};

/// The IC's limit on a Wasm module, gzipped or not; a gzipped module is not inflated past it.
const MAX_WASM: u64 = 100 << 20;

/// How to install.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    pub mode: InstallMode,
    pub skip_pre_upgrade: bool,
    pub wasm_memory_persistence: Option<Persistence>,
}

/// Refuses upgrade options outside `--mode upgrade` (a usage error).
pub fn check_flags(
    mode: InstallMode,
    skip_pre_upgrade: bool,
    persistence: Option<Persistence>,
) -> Result<(), CliError> {
    if mode == InstallMode::Upgrade {
        return Ok(());
    }
    let flag = if skip_pre_upgrade {
        "--skip-pre-upgrade"
    } else if persistence.is_some() {
        "--wasm-memory-persistence"
    } else {
        return Ok(());
    };
    Err(CliError::usage(format!(
        "{flag} is only valid with --mode upgrade"
    )))
}

/// Runs `canister install`.
pub fn run(
    t: &mut dyn Transport,
    out: Output,
    canister_id: Principal,
    wasm: &Path,
    flags: Flags,
    arg: Option<&str>,
) -> Result<(), CliError> {
    let wasm_module = read_wasm(wasm)?;
    let args = install_code_args(canister_id, wasm_module, flags, arg)?;
    // As on the IC, an upgrade does not wait for the canister's calls; say what that means.
    let outstanding = t.call_state(canister_id).map_or(0, |s| s.outstanding);
    if flags.mode == InstallMode::Upgrade && outstanding > 0 {
        warn(format!(
            "canister {canister_id} has {outstanding} call(s) waiting for a response: their callbacks \
             will run in the new module's function table (the IC's behaviour; it may trap with \
             \"table not found\" or run the wrong function). Stop the canister first (`drydock \
             canister stop {canister_id}`), or use `drydock canister upgrade`, which does."
        ));
    }
    send(t, args).map_err(|e| hint_for(e, canister_id, wasm, flags))?;
    let hash = t.info(canister_id)?.module_hash.map(hex::encode);
    let mode = format!("{:?}", flags.mode).to_lowercase();
    note(format!(
        "Installed code on canister {canister_id} (mode {mode})"
    ));
    if out.json {
        out.data(
            String::new,
            || json!({ "canister_id": canister_id.to_text(), "mode": mode, "module_hash": hash }),
        );
    }
    Ok(())
}

/// drydock's advice after the IC's text (which stays as the IC gives it): where the IC names
/// something drydock spells differently (its `mode='reinstall'` is drydock's `--mode
/// reinstall`), and the ways out when the old module's `pre_upgrade` traps.
fn hint_for(e: CliError, id: Principal, wasm: &Path, flags: Flags) -> CliError {
    let wasm = wasm.display();
    if e.has_ic_error_code(drydock_replica::ErrorCode::CanisterNonEmpty) {
        return e.with_hint(format!(
            "the canister already has a module. `drydock canister install {id} {wasm} --mode reinstall` replaces it and erases the canister's state; `drydock canister upgrade {id} {wasm}` keeps the state"
        ));
    }
    if flags.mode == InstallMode::Upgrade
        && !flags.skip_pre_upgrade
        && e.to_string().contains("canister_pre_upgrade")
    {
        return e.with_hint(format!(
            "the old module's canister_pre_upgrade failed, so nothing was changed. `drydock canister install {id} {wasm} --mode upgrade --skip-pre-upgrade` upgrades without it (stable memory is kept, the heap is not); `drydock canister upgrade {id} {wasm}` lists more ways out, and `drydock canister rehearse` tries them on a copy"
        ));
    }
    e
}

/// The largest module sent whole in one `install_code`: the IC's 2 MiB ingress limit, less
/// room for the rest of the request. Larger modules go through the chunk store.
pub const MAX_INLINE_WASM: usize = (2 << 20) - (64 << 10);

/// Sends `install_code`, or for a module over [`MAX_INLINE_WASM`] uploads it to the
/// canister's chunk store in 1 MiB chunks and sends `install_chunked_code`, then clears the
/// store, as icp-cli does.
pub fn send(t: &mut dyn Transport, args: InstallCodeArgs) -> Result<(), CliError> {
    let canister_id = args.canister_id;
    if args.wasm_module.len() <= MAX_INLINE_WASM {
        return management(t, "install_code", canister_id, (args,));
    }
    let chunks: Vec<&[u8]> = args
        .wasm_module
        .chunks(drydock_replica::MAX_CHUNK_BYTES)
        .collect();
    note(format!(
        "The module is {} bytes, more than one message holds: uploading it in {} chunks",
        args.wasm_module.len(),
        chunks.len()
    ));
    let mut hashes = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let hash: ChunkHash = management(
            t,
            "upload_chunk",
            canister_id,
            (UploadChunkArgs {
                canister_id,
                chunk: chunk.to_vec(),
            },),
        )?;
        hashes.push(hash);
    }
    let result: Result<(), CliError> = management(
        t,
        "install_chunked_code",
        canister_id,
        (InstallChunkedCodeArgs {
            mode: args.mode,
            target_canister: canister_id,
            store_canister: None,
            chunk_hashes_list: hashes,
            wasm_module_hash: <sha2::Sha256 as sha2::Digest>::digest(&args.wasm_module).to_vec(),
            arg: args.arg,
            sender_canister_version: None,
        },),
    );
    let cleared = management(
        t,
        "clear_chunk_store",
        canister_id,
        (CanisterIdRecord { canister_id },),
    );
    result?;
    cleared
}

/// Reads a Wasm file given on the command line.
pub fn read_wasm(wasm: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(wasm)
        .map_err(|e| CliError::usage(format!("cannot read the Wasm file {}: {e}", wasm.display())))
}

/// The `install_code` request: the argument text encoded with the module's init types.
pub fn install_code_args(
    canister_id: Principal,
    wasm_module: Vec<u8>,
    flags: Flags,
    arg: Option<&str>,
) -> Result<InstallCodeArgs, CliError> {
    let arg = match arg {
        None => encode_args("()", None)?,
        Some(text) => {
            let types = init_arg_types(&wasm_module);
            let typed = types.as_ref().map(|(env, types)| (env, types.as_slice()));
            encode_args(text, typed)?
        }
    };
    let mode = match flags.mode {
        InstallMode::Install => CanisterInstallMode::Install,
        InstallMode::Reinstall => CanisterInstallMode::Reinstall,
        InstallMode::Upgrade => {
            let persistence = flags.wasm_memory_persistence.map(|p| match p {
                Persistence::Keep => WasmMemoryPersistence::Keep,
                Persistence::Replace => WasmMemoryPersistence::Replace,
            });
            let skip = flags.skip_pre_upgrade.then_some(true);
            if skip.is_none() && persistence.is_none() {
                CanisterInstallMode::Upgrade(None)
            } else {
                CanisterInstallMode::Upgrade(Some(UpgradeFlags {
                    skip_pre_upgrade: skip,
                    wasm_memory_persistence: persistence,
                }))
            }
        }
    };
    Ok(InstallCodeArgs {
        mode,
        canister_id,
        wasm_module,
        arg,
        sender_canister_version: None,
    })
}

/// The init argument types the module declares, if any.
fn init_arg_types(wasm: &[u8]) -> Option<(TypeEnv, Vec<Type>)> {
    let sections = icp_sections(wasm);
    let service_text = sections.get("candid:service")?;
    let service = match std::str::from_utf8(service_text)
        .map_err(|e| e.to_string())
        .and_then(Service::parse)
    {
        Ok(s) => s,
        Err(e) => {
            warn(format!(
                "the module's candid:service does not parse ({e}); encoding --arg without types"
            ));
            return None;
        }
    };
    if let Some(args) = service.init_args() {
        return Some((service.env, args));
    }
    let args_text = sections.get("candid:args")?;
    match std::str::from_utf8(args_text)
        .map_err(|e| e.to_string())
        .and_then(|t| service.parse_init_args(t))
    {
        Ok((env, args)) => {
            note(format!(
                "Encoding --arg as {} (the module's candid:args)",
                signature(&args)
            ));
            Some((env, args))
        }
        Err(e) => {
            warn(format!(
                "the module's candid:args does not parse ({e}); encoding --arg without types"
            ));
            None
        }
    }
}

/// The `icp:public NAME` and `icp:private NAME` custom sections of a module, by NAME. Empty
/// when the module (inflated if gzipped) does not parse.
fn icp_sections(wasm: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let inflated;
    let bytes = if wasm.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut reader = flate2::read::GzDecoder::new(wasm).take(MAX_WASM + 1);
        if reader.read_to_end(&mut out).is_err() || out.len() as u64 > MAX_WASM {
            return BTreeMap::new();
        }
        inflated = out;
        &inflated[..]
    } else {
        wasm
    };
    let mut sections = BTreeMap::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::CustomSection(reader)) => {
                let name = reader.name();
                if let Some(n) = name
                    .strip_prefix("icp:public ")
                    .or_else(|| name.strip_prefix("icp:private "))
                {
                    sections.insert(n.to_string(), reader.data().to_vec());
                }
            }
            Ok(_) => {}
            Err(_) => return BTreeMap::new(),
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal module: the header plus one custom section.
    fn module_with_section(name: &str, data: &[u8]) -> Vec<u8> {
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data);
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.push(0);
        m.push(body.len() as u8);
        m.extend(body);
        m
    }

    #[test]
    fn init_args_come_from_a_service_class_in_a_custom_section() {
        let m = module_with_section(
            "icp:public candid:service",
            b"service : (nat64) -> { f : () -> () }",
        );
        let (env, types) = init_arg_types(&m).expect("types");
        let bytes = encode_args("(7)", Some((&env, &types))).expect("encodes");
        assert_eq!(candid::decode_one::<u64>(&bytes).expect("nat64"), 7);
    }

    #[test]
    fn gzipped_modules_are_read_too() {
        use std::io::Write;
        let m = module_with_section("icp:private candid:service", b"service : (text) -> {}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&m).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert!(icp_sections(&gz).contains_key("candid:service"));
    }

    #[test]
    fn garbage_has_no_sections() {
        assert!(icp_sections(b"not wasm").is_empty());
        assert!(icp_sections(&[0x1f, 0x8b, 1, 2, 3]).is_empty());
    }

    #[test]
    fn upgrade_flags_need_upgrade_mode() {
        assert!(check_flags(InstallMode::Install, true, None).is_err());
        assert!(check_flags(InstallMode::Reinstall, false, Some(Persistence::Keep)).is_err());
        assert!(check_flags(InstallMode::Upgrade, true, Some(Persistence::Keep)).is_ok());
        assert!(check_flags(InstallMode::Install, false, None).is_ok());
    }
}
