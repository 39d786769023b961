//! Identities: Ed25519 keys kept as PKCS#8 PEM files in `<state-dir>/identities/<NAME>.pem`
//! (mode 0600, directory 0700), and the `identity` subcommands.
//!
//! An identity's principal is the IC's self-authenticating principal of its public key in DER
//! (a SubjectPublicKeyInfo, 44 bytes for Ed25519), as agents and icp-cli derive it. The
//! identity named `default` is created the first time it is used; any other must be created
//! with `drydock identity new`, or be one of icp-cli's or dfx's (`foreign_identities`), which
//! are looked for after drydock's own. `anonymous` is the anonymous principal.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use candid::Principal;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use ic_agent::identity::{AnonymousIdentity, BasicIdentity};
use ic_agent::Identity;
use serde_json::json;

use crate::cli::IdentityCommand;
use crate::error::CliError;
use crate::output::{note, Output};

/// The identity used when none is named.
pub const DEFAULT_IDENTITY: &str = "default";
/// The name of the anonymous identity (no key).
pub const ANONYMOUS: &str = "anonymous";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (33 bytes, the first 0 unused bits) }, followed by the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The identities of one state directory.
pub struct Identities {
    dir: PathBuf,
}

impl Identities {
    pub fn new(state_dir: &Path) -> Self {
        Identities {
            dir: state_dir.join("identities"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// The principal of identity `name` (see [`Identities::identity`]).
    pub fn principal(&self, name: &str) -> Result<Principal, CliError> {
        sender_of(&*self.identity(name)?)
    }

    /// Identity `name`: `anonymous`, or drydock's own (`default` is created on first use),
    /// else icp-cli's or dfx's of that name.
    pub fn identity(&self, name: &str) -> Result<Box<dyn Identity>, CliError> {
        if name == ANONYMOUS {
            return Ok(Box::new(AnonymousIdentity));
        }
        check_name(name)?;
        let key = match self.read(name)? {
            Some(key) => key,
            None if name == DEFAULT_IDENTITY => self.create(name, true)?,
            None => {
                return crate::foreign_identities::find(name).unwrap_or_else(|| {
                    Err(CliError::usage(format!(
                        "identity `{name}` does not exist: not in drydock's {}, nor in {} — create it with `drydock identity new {name}`, or pass a key with --pem FILE",
                        self.path(name).display(),
                        crate::foreign_identities::searched()
                    )))
                })
            }
        };
        Ok(Box::new(BasicIdentity::from_raw_key(&key.to_bytes())))
    }

    fn read(&self, name: &str) -> Result<Option<SigningKey>, CliError> {
        let path = self.path(name);
        let pem = match fs::read_to_string(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CliError::usage(format!(
                    "cannot read identity file {}: {e}",
                    path.display()
                )))
            }
        };
        SigningKey::from_pkcs8_pem(&pem).map(Some).map_err(|e| {
            CliError::usage(format!(
                "identity file {} is not an Ed25519 PKCS#8 PEM key: {e} — replace or remove it",
                path.display()
            ))
        })
    }

    /// Creates identity `name`. With `may_exist`, another process creating it at the same
    /// time is fine and its key is returned.
    fn create(&self, name: &str, may_exist: bool) -> Result<SigningKey, CliError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| {
                CliError::usage(format!(
                    "cannot create the directory {}: {e}",
                    self.dir.display()
                ))
            })?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| {
            CliError::internal(format!("encoding a new Ed25519 key as PKCS#8: {e}"))
        })?;
        let path = self.path(name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists && may_exist => {
                return self
                    .read(name)?
                    .ok_or_else(|| CliError::internal(format!("{} vanished", path.display())))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(CliError::usage(format!(
                    "identity `{name}` already exists ({})",
                    path.display()
                )))
            }
            Err(e) => {
                return Err(CliError::usage(format!(
                    "cannot create identity file {}: {e}",
                    path.display()
                )))
            }
        };
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                CliError::usage(format!(
                    "cannot write identity file {}: {e}",
                    path.display()
                ))
            })?;
        Ok(key)
    }

    /// The names of all identities, sorted.
    fn names(&self) -> Result<Vec<String>, CliError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(CliError::usage(format!(
                    "cannot list {}: {e}",
                    self.dir.display()
                )))
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".pem")?;
                check_name(stem).ok()?;
                Some(stem.to_string())
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The principal an identity signs as.
pub fn sender_of(identity: &dyn Identity) -> Result<Principal, CliError> {
    identity
        .sender()
        .map_err(|e| CliError::usage(format!("the identity has no principal: {e}")))
}

/// The self-authenticating principal of an Ed25519 key.
pub fn principal_of(key: &SigningKey) -> Principal {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.verifying_key().as_bytes());
    Principal::self_authenticating(der)
}

fn check_name(name: &str) -> Result<(), CliError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid identity name `{name}`: use up to 64 letters, digits, '.', '_' and '-', starting with a letter or digit"
        )))
    }
}

/// Runs an `identity` subcommand.
pub fn run(
    cmd: IdentityCommand,
    state_dir: &Path,
    selected: &str,
    pem: Option<&Path>,
    out: Output,
) -> Result<(), CliError> {
    let ids = Identities::new(state_dir);
    match cmd {
        IdentityCommand::New { name } => {
            check_name(&name)?;
            let key = ids.create(&name, false)?;
            let principal = principal_of(&key).to_text();
            note(format!(
                "Created identity `{name}` in {}",
                ids.path(&name).display()
            ));
            out.data(
                || principal.clone(),
                || json!({ "name": name, "principal": principal }),
            );
        }
        IdentityCommand::List => {
            // The default identity always exists from the user's point of view.
            ids.principal(DEFAULT_IDENTITY)?;
            let mut list = Vec::new();
            for name in ids.names()? {
                let principal = ids.principal(&name)?.to_text();
                list.push(json!({ "name": name, "principal": principal }));
            }
            let names = ids.names()?;
            out.data(|| names.join("\n"), || json!({ "identities": list }));
        }
        IdentityCommand::Principal { name } => {
            let principal = match (&name, pem) {
                (None, Some(pem)) => sender_of(&*crate::foreign_identities::from_pem_file(pem)?)?,
                _ => ids.principal(name.as_deref().unwrap_or(selected))?,
            }
            .to_text();
            let name = name.as_deref().unwrap_or(selected);
            out.data(
                || principal.clone(),
                || json!({ "name": name, "principal": principal }),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_principal_is_self_authenticating_over_the_44_byte_der_key() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let p = principal_of(&key);
        let bytes = p.as_slice();
        assert_eq!(bytes.len(), 29);
        assert_eq!(bytes[28], 0x02, "self-authenticating class byte");
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(key.verifying_key().as_bytes());
        assert_eq!(der.len(), 44);
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let spki = key.verifying_key().to_public_key_der().expect("der");
        assert_eq!(spki.as_bytes(), der.as_slice());
    }

    #[test]
    fn names_with_path_characters_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["default", "alice", "bob-2", "x.y_z"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
