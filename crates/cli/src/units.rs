//! Sizes, times and snapshot ids as users read and type them.

use crate::error::CliError;

/// Parses a snapshot id given on the command line: hex, as `create` and `list` print it.
pub fn snapshot_id(text: &str) -> Result<Vec<u8>, CliError> {
    let problem = if text.is_empty() {
        "it is empty".to_string()
    } else {
        match hex::decode(text) {
            Ok(bytes) => return Ok(bytes),
            Err(hex::FromHexError::OddLength) => "it has an odd number of hex digits".to_string(),
            Err(hex::FromHexError::InvalidHexCharacter { c, index }) => {
                format!("{c:?} at position {index} is not a hex digit")
            }
            Err(e) => e.to_string(),
        }
    };
    Err(CliError::usage(format!(
        "invalid snapshot id `{text}`: {problem} (snapshot ids are hex, as `drydock canister \
         snapshot list` prints them)"
    )))
}

/// A size in the largest binary unit it reaches, with as many decimals as it needs
/// (`512 B`, `1.5 KiB`, `9.765625 KiB`), as icp-cli prints sizes.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    for (i, unit) in UNITS.iter().enumerate().rev() {
        let scale = 1u64 << (10 * (i + 1));
        if bytes >= scale {
            return format!("{} {unit}", bytes as f64 / scale as f64);
        }
    }
    format!("{bytes} B")
}

/// A time in nanoseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn timestamp(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A number of cycles as typed: digits with optional `_`, or a number (decimals allowed) with
/// a suffix K, M, B or T (thousand, million, billion, trillion), e.g. `2B`, `1.5T`.
pub fn cycles(text: &str) -> Result<u128, CliError> {
    let bad = || {
        CliError::usage(format!(
            "{text:?} is not an amount of cycles (digits such as 500_000, or 2B, 1.5T)"
        ))
    };
    let t = text.trim().replace('_', "");
    let (number, scale): (&str, u128) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale = match c.to_ascii_uppercase() {
                'K' => 1_000,
                'M' => 1_000_000,
                'B' => 1_000_000_000,
                'T' => 1_000_000_000_000,
                _ => return Err(bad()),
            };
            (&t[..i], scale)
        }
        _ => (t.as_str(), 1),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut value = whole.checked_mul(scale).ok_or_else(bad)?;
    // The fraction, digit by digit, must come out whole.
    let mut unit = scale;
    for d in fraction.chars() {
        if unit % 10 != 0 {
            return Err(bad());
        }
        unit /= 10;
        value = value
            .checked_add(u128::from(d.to_digit(10).unwrap_or(0)) * unit)
            .ok_or_else(bad)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_largest_binary_unit_reached() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(10_000), "9.765625 KiB");
        assert_eq!(size(3 << 20), "3 MiB");
        assert_eq!(size(5 << 30), "5 GiB");
        assert_eq!(size(u64::MAX), "16 EiB");
    }

    #[test]
    fn timestamps_are_utc_calendar_times() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            timestamp(1_700_000_000_123_456_789),
            "2023-11-14 22:13:20 UTC"
        );
        // A leap day, and the last second of a year.
        assert_eq!(
            timestamp(951_782_400 * 1_000_000_000),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            timestamp(1_735_689_599 * 1_000_000_000),
            "2024-12-31 23:59:59 UTC"
        );
        assert_eq!(timestamp(u64::MAX), "2554-07-21 23:34:33 UTC");
    }

    #[test]
    fn snapshot_ids_are_hex() {
        assert_eq!(snapshot_id("00ff10").expect("hex"), vec![0, 0xff, 0x10]);
        assert_eq!(snapshot_id("00FF").expect("upper case too"), vec![0, 0xff]);
        for (bad, problem) in [
            ("", "empty"),
            ("abc", "odd number"),
            ("zz", "'z' at position 0"),
            ("0x00", "'x' at position 1"),
        ] {
            let e = snapshot_id(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(problem), "{bad:?}: {e}");
        }
    }

    #[test]
    fn cycles_are_read_as_users_type_them() {
        assert_eq!(cycles("500_000").unwrap(), 500_000);
        assert_eq!(cycles("2B").unwrap(), 2_000_000_000);
        assert_eq!(cycles("1.5T").unwrap(), 1_500_000_000_000);
        assert_eq!(cycles("3k").unwrap(), 3_000);
        // No suffix, no decimals; no fraction finer than one cycle.
        for bad in ["", "T", "1.5", "-1", "1.0000000000001T", "abc", "1X"] {
            assert!(cycles(bad).is_err(), "{bad:?}");
        }
    }
}
