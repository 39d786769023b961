//! The one place that writes to the terminal: data to stdout (text or one JSON object a
//! command), messages to stderr. Commands build their output as values and hand them here.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the binary's output goes through this module")]

use serde_json::Value;

/// How a command prints its data.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints data: `text` normally (nothing when empty), `json` (compact, one line) with `--json`.
    pub fn data(&self, text: impl FnOnce() -> String, json: impl FnOnce() -> Value) {
        if self.json {
            println!("{}", json());
        } else {
            let text = text();
            if text.is_empty() {
                // Nothing to print (an empty list): no blank line either.
            } else if text.ends_with('\n') {
                print!("{text}");
            } else {
                println!("{text}");
            }
        }
    }
}

/// A message for the user (progress, warnings), never data.
pub fn note(msg: impl std::fmt::Display) {
    eprintln!("{msg}");
}

/// A warning: something was skipped or guessed, but the command goes on.
pub fn warn(msg: impl std::fmt::Display) {
    eprintln!("Warning: {msg}");
}

/// The final error of a failed command.
pub fn error(msg: impl std::fmt::Display) {
    eprintln!("Error: {msg}");
}
