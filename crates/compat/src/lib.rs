//! Static upgrade-compatibility checks, with no Wasm engine: what can be known about an
//! upgrade from OLD to NEW before running either.
//!
//! - [`candid`]: the new `candid:service` must be a subtype of the old; every break is
//!   explained by method and path.
//! - [`motoko`]: Motoko stable signatures (`.most`), parsed and checked with moc 4.10's rules.
//! - [`wasm`]: exports, imports, hooks and the enhanced-orthogonal-persistence marker.
//! - [`metadata`]: reading and writing `icp:public` / `icp:private` custom sections.
//! - [`layout`]: whether two modules lay out memory, tables and globals identically, so that
//!   one may replace the other while the heap is kept (the hotfix escape hatch).
//!
//! [`check_upgrade`] runs every check that the two modules carry the metadata for and collects
//! the findings in a [`Report`].

pub mod candid;
mod error;
pub mod layout;
pub mod metadata;
pub mod motoko;
mod report;
pub mod wasm;

pub use error::CompatError;
pub use report::{Area, Finding, Report, Severity, Skipped};

/// The interface texts a module carries (or a user supplies): each check runs only when both
/// sides have its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interfaces {
    /// `candid:service`: the service type, possibly with init args (`(nat) -> service {..}`).
    pub candid_service: Option<String>,
    /// `candid:args`: the init argument types, `(nat, text)`.
    pub candid_args: Option<String>,
    /// `motoko:stable-types`: the `.most` stable signature.
    pub motoko_stable: Option<String>,
}

impl Interfaces {
    /// The texts found in a module's metadata sections, public or private.
    pub fn from_sections(sections: &[metadata::MetadataSection]) -> Self {
        let text = |name: &str| {
            sections
                .iter()
                .find(|s| s.name == name)
                .map(|s| String::from_utf8_lossy(&s.content).into_owned())
        };
        Interfaces {
            candid_service: text("candid:service"),
            candid_args: text("candid:args"),
            motoko_stable: text("motoko:stable-types"),
        }
    }
}

/// Compares the interfaces of OLD and NEW, adding to `report`.
pub fn check_interfaces(
    old: &Interfaces,
    new: &Interfaces,
    report: &mut Report,
) -> Result<(), CompatError> {
    match (&old.candid_service, &new.candid_service) {
        (Some(o), Some(n)) => report.ran("candid:service", candid::check_service(o, n)?),
        (None, _) => report.skip(
            "candid:service",
            "the old module has no candid:service metadata",
        ),
        (Some(_), None) => {
            report.skip(
                "candid:service",
                "the new module has no candid:service metadata",
            );
            report.findings.push(
                Finding::new(
                    Severity::Warning,
                    Area::Candid,
                    "candid-missing",
                    "",
                    "the new module carries no candid:service metadata, so its interface cannot be compared with the old one",
                )
                .with_hint("embed the .did file as `icp:public candid:service` (ic-wasm metadata, or dfx/icp-cli do it)"),
            );
        }
    }
    match (&old.candid_args, &new.candid_args) {
        (Some(o), Some(n)) => report.ran("candid:args", candid::check_init_args(o, n)?),
        _ => report.skip(
            "candid:args",
            "candid:args metadata is missing from one of the modules",
        ),
    }
    match (&old.motoko_stable, &new.motoko_stable) {
        (Some(o), Some(n)) => report.ran("motoko:stable-types", motoko::check_stable(o, n)?),
        (None, _) => report.skip(
            "motoko:stable-types",
            "the old module is not a Motoko canister",
        ),
        (Some(_), None) => {
            report.skip(
                "motoko:stable-types",
                "the new module has no motoko:stable-types metadata",
            );
            report.findings.push(Finding::new(
                Severity::Warning,
                Area::Motoko,
                "motoko-missing",
                "",
                "the old module is a Motoko canister with stable variables and the new one carries no stable signature: its stable variables cannot be checked",
            ));
        }
    }
    Ok(())
}

/// Every static check of an upgrade from `old` to `new` (Wasm bytes, possibly gzipped).
/// `provides(module, name)` says whether the replica can provide an import.
pub fn check_upgrade(
    old: &[u8],
    new: &[u8],
    provides: &dyn Fn(&str, &str) -> bool,
) -> Result<Report, CompatError> {
    let old = wasm::parse_module(old)?;
    let new = wasm::parse_module(new)?;
    let mut report = Report::default();
    report.ran("wasm", wasm::check_structure(&old, &new, provides));
    check_interfaces(
        &Interfaces::from_sections(&old.metadata),
        &Interfaces::from_sections(&new.metadata),
        &mut report,
    )?;
    Ok(report)
}

/// The checks of an upgrade to `new` (Wasm bytes, possibly gzipped) from a deployed module
/// known only by its interface texts: on a network the IC keeps a module's hash and metadata
/// sections but not its bytes, so the Wasm structure check (exports, hooks, imports) is
/// skipped, and the report says why.
pub fn check_upgrade_from_interfaces(old: &Interfaces, new: &[u8]) -> Result<Report, CompatError> {
    let new = wasm::parse_module(new)?;
    let mut report = Report::default();
    report.skip(
        "wasm",
        "the deployed module's bytes cannot be read over a network (the IC keeps only its hash and metadata)",
    );
    check_interfaces(old, &Interfaces::from_sections(&new.metadata), &mut report)?;
    Ok(report)
}
