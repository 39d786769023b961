//! The one place that writes to the terminal: data to stdout (text or one JSON object a
//! command), messages to stderr. Commands build their output as values and hand them here.
//!
//! Write errors are ignored: a closed pipe (`drydock canister list | head -1`) must not turn a
//! finished command into a failure, let alone a panic as `println!` would.

use std::fmt::Display;
use std::io::Write;

use serde_json::Value;

/// How a command prints its data.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints data: `text` normally (nothing when empty), `json` (compact, one line) with `--json`.
    pub fn data(&self, text: impl FnOnce() -> String, json: impl FnOnce() -> Value) {
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{}", json());
        } else {
            let text = text();
            if text.is_empty() {
                // Nothing to print (an empty list): no blank line either.
            } else if text.ends_with('\n') {
                let _ = write!(out, "{text}");
            } else {
                let _ = writeln!(out, "{text}");
            }
        }
        let _ = out.flush();
    }
}

fn message(prefix: &str, msg: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{prefix}{msg}");
}

/// A message for the user (progress, warnings), never data.
pub fn note(msg: impl Display) {
    message("", msg);
}

/// A warning: something was skipped or guessed, but the command goes on.
pub fn warn(msg: impl Display) {
    message("Warning: ", msg);
}

/// The final error of a failed command.
pub fn error(msg: impl Display) {
    message("Error: ", msg);
}
