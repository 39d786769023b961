//! `--health-check "METHOD ARGS => EXPECTED"`: a query an upgraded canister must answer as
//! expected, run through a [`Transport`] (the embedded replica, or an agent over a network),
//! the reply compared as Candid values typed by the canister's own `candid:service`.

use candid::types::Type;
use candid::{IDLArgs, Principal, TypeEnv};

use crate::candid_io::{encode_args, Service};
use crate::cli::HealthArgs;
use crate::error::CliError;
use crate::transport::Transport;

/// A `--health-check "METHOD ARGS => EXPECTED"`.
#[derive(Clone, Debug)]
pub struct HealthCheck {
    text: String,
    method: String,
    args: String,
    expected: String,
}

impl HealthCheck {
    pub fn parse_all(h: &HealthArgs) -> Result<Vec<HealthCheck>, CliError> {
        h.checks.iter().map(|t| HealthCheck::parse(t)).collect()
    }

    /// Parses "METHOD ARGS => EXPECTED" (ARGS may be empty for `()`).
    pub fn parse(text: &str) -> Result<HealthCheck, CliError> {
        let bad = |why: &str| {
            CliError::usage(format!(
                "--health-check {text:?}: {why}; write it as \"METHOD ARGS => EXPECTED\", e.g. 'count () => (3 : nat)'"
            ))
        };
        let (call, expected) = text.split_once("=>").ok_or_else(|| bad("no `=>`"))?;
        let call = call.trim();
        let (method, args) = match call.split_once(char::is_whitespace) {
            Some((m, a)) => (m, a.trim()),
            None => (call, ""),
        };
        if method.is_empty() {
            return Err(bad("no method"));
        }
        let args = if args.is_empty() { "()" } else { args };
        for (what, t) in [("ARGS", args), ("EXPECTED", expected.trim())] {
            candid_parser::parse_idl_args(t)
                .map_err(|e| bad(&format!("{what} is not Candid text ({e})")))?;
        }
        Ok(HealthCheck {
            text: text.to_string(),
            method: method.to_string(),
            args: args.to_string(),
            expected: expected.trim().to_string(),
        })
    }

    /// Queries the canister and compares the reply with the expected values, typed by the
    /// canister's Candid when it has some.
    pub fn run(&self, t: &mut dyn Transport, id: Principal) -> Result<(), String> {
        let service = t
            .metadata(id, "candid:service")
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| Service::parse(&t).ok());
        let function = service.as_ref().and_then(|s| s.method(&self.method));
        let env = service.as_ref().map(|s| &s.env);
        let arg_types: Option<(&TypeEnv, &[Type])> = env.zip(function.map(|f| f.args.as_slice()));
        let ret_types: Option<(&TypeEnv, &[Type])> = env.zip(function.map(|f| f.rets.as_slice()));
        let arg = encode_args(&self.args, arg_types).map_err(|e| e.to_string())?;
        let reply = t
            .query(id, &self.method, arg)
            .map_err(|e| format!("`{}` was rejected: {e}", self.text))?;
        let expected = encode_args(&self.expected, ret_types).map_err(|e| e.to_string())?;
        let show = |bytes: &[u8]| {
            match ret_types {
                Some((env, types)) => IDLArgs::from_bytes_with_types(bytes, env, types),
                None => IDLArgs::from_bytes(bytes),
            }
            .map(|a| a.to_string())
            .unwrap_or_else(|_| hex::encode(bytes))
        };
        let (got, want) = (show(&reply), show(&expected));
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "`{}`: the canister replied {got}, expected {want}",
                self.text
            ))
        }
    }

    /// The check as given on the command line.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Runs `--health-check-cmd` with `sh -c`, `DRYDOCK_CANISTER_ID` set and `place` (the state
/// directory, or the network) as its one other variable.
pub fn run_command(
    cmd: &str,
    id: Principal,
    place: (&str, &std::ffi::OsStr),
) -> Result<(), String> {
    match std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("DRYDOCK_CANISTER_ID", id.to_text())
        .env(place.0, place.1)
        .status()
    {
        Ok(s) if s.success() => {
            crate::output::note(format!("Health check command passed: {cmd}"));
            Ok(())
        }
        Ok(s) => Err(format!("the health check command `{cmd}` failed ({s})")),
        Err(e) => Err(format!(
            "the health check command `{cmd}` could not run: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_checks_parse_method_args_and_expected() {
        let c = HealthCheck::parse("count () => (3 : nat)").expect("parses");
        assert_eq!(c.method, "count");
        assert_eq!(c.args, "()");
        assert_eq!(c.expected, "(3 : nat)");
        let c = HealthCheck::parse("get (\"k\") => (opt \"v\")").expect("parses");
        assert_eq!(c.args, "(\"k\")");
        let c = HealthCheck::parse("version => (\"v2\")").expect("parses");
        assert_eq!(c.args, "()");
        assert!(HealthCheck::parse("count ()").is_err());
        assert!(HealthCheck::parse(" => ()").is_err());
        assert!(HealthCheck::parse("count (( => ()").is_err());
    }
}
