//! What a check finds: [`Finding`]s collected into a [`Report`], serialisable for `--json`.

use serde::Serialize;

/// How bad a finding is. An `Error` is a breaking change: `drydock check` exits non-zero and
/// `drydock canister upgrade` refuses without `--yes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Which check produced a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Candid,
    Motoko,
    Wasm,
    Layout,
}

/// One incompatibility or remark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub area: Area,
    /// A stable code: moc's (`M0170`, `M0169`, `M0216`) for Motoko, or drydock's own
    /// (`candid-subtype`, `wasm-export-removed`, ...) elsewhere.
    pub code: String,
    /// Where, from the outside in: "method `create`: argument 1, record field `owner`".
    pub path: String,
    /// What changed and why it breaks (or may break) something.
    pub message: String,
    /// What to do about it, when there is a usual fix.
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(
        severity: Severity,
        area: Area,
        code: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            severity,
            area,
            code: code.into(),
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        write!(f, "{sev}[{}]", self.code)?;
        if !self.path.is_empty() {
            write!(f, " {}:", self.path)?;
        }
        write!(f, " {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " — {h}")?;
        }
        Ok(())
    }
}

/// A check that did not run, and why (for example: no `candid:service` metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub check: String,
    pub reason: String,
}

/// Everything one comparison of two modules found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks that ran: "candid:service", "candid:args", "motoko:stable-types", "wasm".
    pub checked: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error (a breaking change).
    pub fn is_breaking(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// Records a check that ran. A finding already reported (the same code, path and
    /// message, e.g. init args found both in `candid:service` and `candid:args`) is not
    /// repeated.
    pub(crate) fn ran(&mut self, check: &str, findings: Vec<Finding>) {
        self.checked.push(check.to_string());
        for f in findings {
            let seen = self
                .findings
                .iter()
                .any(|g| g.code == f.code && g.path == f.path && g.message == f.message);
            if !seen {
                self.findings.push(f);
            }
        }
    }

    pub(crate) fn skip(&mut self, check: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            check: check.to_string(),
            reason: reason.into(),
        });
    }
}
