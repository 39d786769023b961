//! The identities users already have: a PEM file (`--pem FILE`), and the identity stores of
//! icp-cli and dfx, read only. A plaintext PEM key (Ed25519, secp256k1 or P-256) becomes an
//! ic-agent identity; a key kept in a keyring, encrypted with a password or held by a hardware
//! module is refused with a message that says so and how to use it anyway.
//!
//! Where the stores are:
//! - icp-cli: `$XDG_DATA_HOME/icp-cli/identity` (else `~/.local/share/icp-cli/identity`): the
//!   list `identity_list.json` (`{"identities": {NAME: {"kind": "pem", "format": "plaintext",
//!   ...}}}`) and the keys in `keys/NAME.pem`;
//! - dfx: `$XDG_CONFIG_HOME/dfx/identity/NAME` (else `~/.config/dfx/identity/NAME`):
//!   `identity.pem`, or `identity.pem.encrypted` with its settings in `identity.json`
//!   (`encryption`, `keyring_identity_suffix` or `hsm`).

use std::path::{Path, PathBuf};

use ic_agent::identity::{BasicIdentity, Prime256v1Identity, Secp256k1Identity};
use ic_agent::Identity;

use crate::error::CliError;

/// An identity read from a PEM text, named by `source` in errors.
pub fn from_pem(pem: &str, source: &str) -> Result<Box<dyn Identity>, CliError> {
    if pem.contains("ENCRYPTED") {
        return Err(CliError::usage(format!(
            "{source} is encrypted with a password, which drydock cannot read: export the key as plaintext PEM and pass it with --pem FILE"
        )));
    }
    if let Ok(id) = BasicIdentity::from_pem(pem) {
        return Ok(Box::new(id));
    }
    if let Ok(id) = Secp256k1Identity::from_pem(pem) {
        return Ok(Box::new(id));
    }
    match Prime256v1Identity::from_pem(pem) {
        Ok(id) => Ok(Box::new(id)),
        Err(e) => Err(CliError::usage(format!(
            "{source} is not a PEM private key drydock can use (Ed25519, secp256k1 or P-256): {e}"
        ))),
    }
}

/// `--pem FILE`.
pub fn from_pem_file(path: &Path) -> Result<Box<dyn Identity>, CliError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read --pem {}: {e}", path.display())))?;
    from_pem(&pem, &format!("the key in {}", path.display()))
}

fn home_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
}

/// icp-cli's identity directory.
fn icp_cli_dir() -> Option<PathBuf> {
    home_dir("XDG_DATA_HOME", ".local/share").map(|d| d.join("icp-cli/identity"))
}

/// dfx's identity directory.
fn dfx_dir() -> Option<PathBuf> {
    home_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("dfx/identity"))
}

/// Identity `name` from icp-cli's store, if it has one by that name.
fn from_icp_cli(name: &str) -> Option<Result<Box<dyn Identity>, CliError>> {
    let dir = icp_cli_dir()?;
    let list = std::fs::read_to_string(dir.join("identity_list.json")).ok()?;
    let list: serde_json::Value = match serde_json::from_str(&list) {
        Ok(v) => v,
        Err(e) => {
            return Some(Err(CliError::usage(format!(
                "icp-cli's identity list {} is not JSON: {e}",
                dir.join("identity_list.json").display()
            ))))
        }
    };
    let entry = list["identities"].get(name)?;
    let kind = entry["kind"].as_str().unwrap_or("?");
    let format = entry["format"].as_str().unwrap_or("?");
    Some(match (kind, format) {
        ("pem", "plaintext") => {
            let path = dir.join("keys").join(format!("{name}.pem"));
            match std::fs::read_to_string(&path) {
                Ok(pem) => from_pem(&pem, &format!("icp-cli's identity `{name}` ({})", path.display())),
                Err(e) => Err(CliError::usage(format!(
                    "cannot read icp-cli's identity `{name}` ({}): {e}",
                    path.display()
                ))),
            }
        }
        ("pem", format) => Err(CliError::usage(format!(
            "icp-cli's identity `{name}` is encrypted (format {format}), which drydock cannot read: run `icp identity export {name} > {name}.pem` and pass --pem {name}.pem"
        ))),
        (kind, _) => Err(CliError::usage(format!(
            "icp-cli's identity `{name}` is kept as `{kind}` (a keyring, a hardware key or a delegation), not as a plaintext PEM file, which drydock cannot read: run `icp identity export {name} > {name}.pem` and pass --pem {name}.pem"
        ))),
    })
}

/// Identity `name` from dfx's store, if it has one by that name.
fn from_dfx(name: &str) -> Option<Result<Box<dyn Identity>, CliError>> {
    let dir = dfx_dir()?.join(name);
    if !dir.is_dir() {
        return None;
    }
    let settings: serde_json::Value = std::fs::read_to_string(dir.join("identity.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let refuse = |how: &str| {
        Err(CliError::usage(format!(
            "dfx's identity `{name}` is {how}, which drydock cannot read: run `dfx identity export {name} > {name}.pem` and pass --pem {name}.pem"
        )))
    };
    if settings.get("hsm").is_some() {
        return Some(refuse("on a hardware security module"));
    }
    if settings.get("keyring_identity_suffix").is_some() {
        return Some(refuse("kept in the system keyring"));
    }
    if settings.get("encryption").is_some() || dir.join("identity.pem.encrypted").exists() {
        return Some(refuse("encrypted with a password"));
    }
    let path = dir.join("identity.pem");
    Some(match std::fs::read_to_string(&path) {
        Ok(pem) => from_pem(
            &pem,
            &format!("dfx's identity `{name}` ({})", path.display()),
        ),
        Err(e) => Err(CliError::usage(format!(
            "cannot read dfx's identity `{name}` ({}): {e}",
            path.display()
        ))),
    })
}

/// Identity `name` from icp-cli's store, else dfx's; `None` when neither has it.
pub fn find(name: &str) -> Option<Result<Box<dyn Identity>, CliError>> {
    from_icp_cli(name).or_else(|| from_dfx(name))
}

/// Where [`find`] looked, for the error of an identity found nowhere.
pub fn searched() -> String {
    let show =
        |p: Option<PathBuf>| p.map_or("(no home directory)".into(), |p| p.display().to_string());
    format!(
        "icp-cli's {} and dfx's {}",
        show(icp_cli_dir()),
        show(dfx_dir())
    )
}
