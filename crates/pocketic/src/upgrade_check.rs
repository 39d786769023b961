//! drydock's static upgrade checks (`drydock check`) on the upgrades a PocketIC instance
//! performs, when the server runs with `DRYDOCK_POCKET_IC_CHECK=1`: an `install_code` or
//! `install_chunked_code` in mode upgrade is checked against the deployed module before it
//! runs, and the findings become warnings. The upgrade itself then runs as PocketIC would run
//! it: a warning never changes what the test sees.

use candid::{Decode, Principal};
use drydock_compat::{Report, Severity};
use drydock_replica::Replica;
use ic_management_canister_types::{CanisterInstallMode, InstallChunkedCodeArgs, InstallCodeArgs};

/// The warnings for a call to the management canister, if it is an upgrade drydock can check.
/// A call that does not decode is left to the management canister to refuse.
pub fn warnings(replica: &Replica, method: &str, arg: &[u8]) -> Vec<String> {
    let Some((canister, new)) = upgrade(replica, method, arg) else {
        return Vec::new();
    };
    let Ok(Some(old)) = replica.module_bytes(&canister) else {
        return Vec::new();
    };
    match drydock_compat::check_upgrade(&old, &new, &drydock_replica::provides_import) {
        Ok(report) => render(&canister, &report),
        Err(e) => vec![format!(
            "drydock check: the upgrade of canister {canister} could not be checked: {e}"
        )],
    }
}

/// The canister an upgrade is for and the new module, assembled from the chunk store for a
/// chunked install.
fn upgrade(replica: &Replica, method: &str, arg: &[u8]) -> Option<(Principal, Vec<u8>)> {
    match method {
        "install_code" => {
            let args = Decode!(arg, InstallCodeArgs).ok()?;
            matches!(args.mode, CanisterInstallMode::Upgrade(_))
                .then_some((args.canister_id, args.wasm_module))
        }
        "install_chunked_code" => {
            let args = Decode!(arg, InstallChunkedCodeArgs).ok()?;
            if !matches!(args.mode, CanisterInstallMode::Upgrade(_)) {
                return None;
            }
            let mut wasm = Vec::new();
            for chunk in &args.chunk_hashes_list {
                wasm.extend(replica.chunk_content(&chunk.hash).ok()?);
            }
            Some((args.target_canister, wasm))
        }
        _ => None,
    }
}

/// One line per finding that is not merely informational.
fn render(canister: &Principal, report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| {
            let word = if f.severity == Severity::Error {
                "breaking"
            } else {
                "warning"
            };
            let mut line = format!(
                "drydock check: upgrade of canister {canister}: {word} [{}]",
                f.code
            );
            if !f.path.is_empty() {
                line += &format!(" {}:", f.path);
            }
            line += &format!(" {}", f.message);
            if let Some(hint) = &f.hint {
                line += &format!(" (hint: {hint})");
            }
            line
        })
        .collect()
}
