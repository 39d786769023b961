//! Canister settings as `ic.did`'s `canister_settings` gives them: checked against the IC's
//! limits and applied to a canister's [`Settings`].

use candid::Nat;
use ic_management_canister_types::{
    CanisterSettings, LogVisibility, SnapshotVisibility, StatusVisibility,
};

use crate::error::{ErrorCode, UserError};
use crate::record::Settings;

/// The most controllers a canister may have.
const MAX_CONTROLLERS: usize = 10;
/// The most principals `snapshot_visibility = allowed_viewers` may name.
const MAX_SNAPSHOT_VIEWERS: usize = 10;
pub(crate) fn nat_u64(n: &Nat, what: &str) -> Result<u64, UserError> {
    n.0.to_string().parse().map_err(|_| {
        UserError::new(
            ErrorCode::InvalidManagementPayload,
            format!("{what} = {n} does not fit in 64 bits"),
        )
    })
}

pub(crate) fn nat_u128(n: &Nat, what: &str) -> Result<u128, UserError> {
    n.0.to_string().parse().map_err(|_| {
        UserError::new(
            ErrorCode::InvalidManagementPayload,
            format!("{what} = {n} does not fit in 128 bits"),
        )
    })
}

/// The most environment variables a canister may have, and the longest name and value (bytes).
const MAX_ENV_VARS: usize = 20;
const MAX_ENV_VAR_BYTES: usize = 128;

/// Checks environment variables against the IC's limits; returns them sorted by name.
fn environment_variables(
    vars: &[ic_management_canister_types::EnvironmentVariable],
) -> Result<Vec<(String, String)>, UserError> {
    let invalid = |msg: String| {
        UserError::new(
            ErrorCode::InvalidManagementPayload,
            format!("Invalid settings: {msg}"),
        )
    };
    if vars.len() > MAX_ENV_VARS {
        return Err(invalid(format!(
            "{} environment variables given, at most {MAX_ENV_VARS} are allowed",
            vars.len()
        )));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for v in vars {
        if v.name.len() > MAX_ENV_VAR_BYTES || v.value.len() > MAX_ENV_VAR_BYTES {
            return Err(invalid(format!(
                "environment variable `{}`: names and values are at most {MAX_ENV_VAR_BYTES} bytes",
                v.name.chars().take(40).collect::<String>()
            )));
        }
        out.push((v.name.clone(), v.value.clone()));
    }
    out.sort();
    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(invalid(format!(
            "environment variable `{}` is given twice",
            w[0].0
        )));
    }
    Ok(out)
}

fn check_viewers(n: usize, what: &str) -> Result<(), UserError> {
    if n > MAX_SNAPSHOT_VIEWERS {
        return Err(UserError::new(
            ErrorCode::InvalidManagementPayload,
            format!(
                "Invalid settings: {n} {what} viewers given, at most {MAX_SNAPSHOT_VIEWERS} are allowed"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn apply_settings(
    settings: &mut Settings,
    new: &CanisterSettings,
) -> Result<bool, UserError> {
    let mut controllers_changed = false;
    if let Some(c) = &new.controllers {
        if c.len() > MAX_CONTROLLERS {
            return Err(UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!(
                    "Invalid settings: {} controllers given, at most {MAX_CONTROLLERS} are allowed",
                    c.len()
                ),
            ));
        }
        settings.controllers = c.clone();
        controllers_changed = true;
    }
    if let Some(n) = &new.compute_allocation {
        let v = nat_u64(n, "compute_allocation")?;
        if v > 100 {
            return Err(UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!("Invalid settings: compute_allocation {v} must be between 0 and 100"),
            ));
        }
        settings.compute_allocation = v;
    }
    if let Some(n) = &new.memory_allocation {
        settings.memory_allocation = nat_u64(n, "memory_allocation")?;
    }
    if let Some(n) = &new.freezing_threshold {
        settings.freezing_threshold = nat_u64(n, "freezing_threshold")?;
    }
    if let Some(n) = &new.reserved_cycles_limit {
        settings.reserved_cycles_limit = nat_u128(n, "reserved_cycles_limit")?;
    }
    if let Some(n) = &new.wasm_memory_limit {
        let v = nat_u64(n, "wasm_memory_limit")?;
        if v > 1 << 48 {
            return Err(UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!("Invalid settings: wasm_memory_limit {v} exceeds 2^48"),
            ));
        }
        settings.wasm_memory_limit = v;
    }
    if let Some(n) = &new.wasm_memory_threshold {
        settings.wasm_memory_threshold = nat_u64(n, "wasm_memory_threshold")?;
    }
    if let Some(v) = &new.log_visibility {
        if let LogVisibility::AllowedViewers(viewers) = v {
            check_viewers(viewers.len(), "log")?;
        }
        settings.log_visibility = v.clone();
    }
    if let Some(n) = &new.log_memory_limit {
        let v = nat_u64(n, "log_memory_limit")?;
        if v > crate::log_buffer::MAX_LOG_MEMORY_LIMIT {
            return Err(UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!(
                    "Invalid settings: log_memory_limit {v} exceeds the maximum of {} bytes",
                    crate::log_buffer::MAX_LOG_MEMORY_LIMIT
                ),
            ));
        }
        settings.log_memory_limit = v;
    }
    if let Some(v) = &new.status_visibility {
        if let StatusVisibility::AllowedViewers(viewers) = v {
            check_viewers(viewers.len(), "status")?;
        }
        settings.status_visibility = v.clone();
    }
    if let Some(n) = &new.minimum_incoming_canister_call_cycles {
        settings.minimum_incoming_canister_call_cycles =
            nat_u128(n, "minimum_incoming_canister_call_cycles")?;
    }
    if let Some(vars) = &new.environment_variables {
        settings.environment_variables = environment_variables(vars)?;
    }
    if let Some(v) = &new.snapshot_visibility {
        if let SnapshotVisibility::AllowedViewers(viewers) = v {
            if viewers.len() > MAX_SNAPSHOT_VIEWERS {
                return Err(UserError::new(
                    ErrorCode::InvalidManagementPayload,
                    format!(
                        "Invalid settings: {} snapshot viewers given, at most {MAX_SNAPSHOT_VIEWERS} are allowed",
                        viewers.len()
                    ),
                ));
            }
        }
        settings.snapshot_visibility = v.clone();
    }
    Ok(controllers_changed)
}
