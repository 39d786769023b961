//! `drydock check OLD NEW`: the static upgrade checks of `drydock-compat`, and the report
//! every upgrade command prints.
//!
//! The report goes to stdout for `check` (it is the command's data) and to stderr for
//! `canister upgrade` (there it is a message before the upgrade). Colour only on a terminal,
//! and never with `NO_COLOR` set.

use std::io::IsTerminal;
use std::path::Path;

use drydock_compat::{Report, Severity};
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::context::Ctx;
use crate::error::CliError;
use crate::install::read_wasm;

/// Runs `drydock check`.
pub fn run(old: &str, new: &Path, global: &GlobalArgs) -> Result<(), CliError> {
    let new_bytes = read_wasm(new)?;
    let old_path = Path::new(old);
    let (old_bytes, old_name) = if old_path.exists() {
        (read_wasm(old_path)?, old.to_string())
    } else {
        let id = candid::Principal::from_text(old).map_err(|_| {
            CliError::usage(format!("OLD `{old}` is neither a file nor a canister id"))
        })?;
        let ctx = Ctx::open(global)?;
        (deployed_module(&ctx, &id)?, format!("canister {id}"))
    };
    // Each module on its own first, so that an error names the file it is about.
    for (bytes, name) in [
        (&old_bytes, &old_name),
        (&new_bytes, &new.display().to_string()),
    ] {
        drydock_compat::wasm::parse_module(bytes)
            .map_err(|e| CliError::usage(format!("cannot check the upgrade: {name}: {e}")))?;
    }
    let report = check(&old_bytes, &new_bytes)?;
    show(report, &old_name, new, global)
}

/// Prints the report of `check` and refuses when it is breaking.
pub fn show(
    report: Report,
    old_name: &str,
    new: &Path,
    global: &GlobalArgs,
) -> Result<(), CliError> {
    let out = crate::output::Output { json: global.json };
    out.data(
        || render(&report, old_name, &new.display().to_string(), std::io::stdout().is_terminal()),
        || json!({ "old": old_name, "new": new.display().to_string(), "breaking": report.is_breaking(), "report": report }),
    );
    if report.is_breaking() {
        return Err(CliError::Refused(format!(
            "{} breaking change(s) from {old_name} to {}",
            report.errors().count(),
            new.display()
        )));
    }
    Ok(())
}

/// The module deployed on a canister.
pub fn deployed_module(ctx: &Ctx, id: &candid::Principal) -> Result<Vec<u8>, CliError> {
    ctx.replica.module_bytes(id)?.ok_or_else(|| {
        CliError::usage(format!(
            "canister {id} has no module installed: there is nothing to upgrade from (use `drydock canister install`)"
        ))
    })
}

/// Every static check of an upgrade from `old` to `new`.
pub fn check(old: &[u8], new: &[u8]) -> Result<Report, CliError> {
    drydock_compat::check_upgrade(old, new, &drydock_replica::provides_import)
        .map_err(|e| CliError::usage(format!("cannot check the upgrade: {e}")))
}

/// Colours for a terminal.
struct Paint {
    on: bool,
}

impl Paint {
    fn new(terminal: bool) -> Self {
        Paint {
            on: terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// The report as text: one block per finding, then what was checked and skipped.
pub fn render(report: &Report, old: &str, new: &str, terminal: bool) -> String {
    let p = Paint::new(terminal);
    let mut s = format!("Upgrade check: {old} -> {new}\n");
    for f in &report.findings {
        let (code, word) = match f.severity {
            Severity::Error => ("1;31", "error"),
            Severity::Warning => ("1;33", "warning"),
            Severity::Info => ("2", "info"),
        };
        s += &format!("  {}[{}]", p.paint(code, word), f.code);
        if !f.path.is_empty() {
            s += &format!(" {}:", f.path);
        }
        s += &format!(" {}\n", f.message);
        if let Some(h) = &f.hint {
            s += &format!("      hint: {h}\n");
        }
    }
    s += &format!("  checked: {}\n", report.checked.join(", "));
    for k in &report.skipped {
        s += &format!("  skipped {}: {}\n", k.check, k.reason);
    }
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    s += &if errors > 0 {
        p.paint(
            "1;31",
            &format!("  BREAKING: {errors} error(s), {warnings} warning(s)"),
        )
    } else {
        p.paint(
            "1;32",
            &format!("  compatible: no breaking change ({warnings} warning(s))"),
        )
    };
    s
}
