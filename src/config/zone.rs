//! The decode-related settings: time zones (`sourceTimezone`, `timezone`,
//! `enableTimeZoneProcess`) and the zero-date policy (`defaultZeroDate`).

use std::fmt;
use std::str::FromStr;

use jiff::tz::{Offset, TimeZone};
use serde::{Serialize, Serializer};

use super::error::{Problem, Problems};

/// A validated time zone: an IANA name (`Asia/Shanghai`, `UTC`) or a fixed offset `±HH:MM`.
/// Keeps the text as written (for display) and the resolved [`jiff::tz::TimeZone`].
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Self {
        Zone {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// The zone as written in the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The resolved zone.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether this is a fixed offset (`±HH:MM`, `UTC`) rather than a zone with rules.
    pub fn is_fixed(&self) -> bool {
        self.tz.to_fixed_offset().is_ok()
    }
}

/// Why a zone could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected an IANA time zone name (e.g. `Asia/Shanghai`, `UTC`) or an offset `±HH:MM`, got `{0}`"
)]
pub struct BadZone(pub String);

impl FromStr for Zone {
    type Err = BadZone;

    fn from_str(s: &str) -> Result<Self, BadZone> {
        let bad = || BadZone(s.to_owned());
        if s.eq_ignore_ascii_case("UTC") || s == "Z" {
            return Ok(Zone {
                name: s.to_owned(),
                tz: TimeZone::UTC,
            });
        }
        if let Some(rest) = s.strip_prefix(['+', '-']) {
            let b = rest.as_bytes();
            if b.len() != 5 || b[2] != b':' {
                return Err(bad());
            }
            let hh: i32 = rest[..2].parse().map_err(|_| bad())?;
            let mm: i32 = rest[3..].parse().map_err(|_| bad())?;
            if !rest[..2].bytes().all(|c| c.is_ascii_digit())
                || !rest[3..].bytes().all(|c| c.is_ascii_digit())
                || hh > 23
                || mm > 59
            {
                return Err(bad());
            }
            let sign = if s.starts_with('-') { -1 } else { 1 };
            let offset = Offset::from_seconds(sign * (hh * 3600 + mm * 60)).map_err(|_| bad())?;
            return Ok(Zone {
                name: s.to_owned(),
                tz: TimeZone::fixed(offset),
            });
        }
        if s.is_empty() || s.starts_with('/') || s.contains("..") {
            return Err(bad());
        }
        let tz = TimeZone::get(s).map_err(|_| bad())?;
        Ok(Zone {
            name: s.to_owned(),
            tz,
        })
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

/// `defaultZeroDate`: the decoder's policy, parsed and printed here.
pub use crate::decode::ZeroDatePolicy;

/// Why a `defaultZeroDate` value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected `null`, `error`, or a valid date or datetime `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`, got `{0}`"
)]
pub struct BadZeroDate(pub String);

impl FromStr for ZeroDatePolicy {
    type Err = BadZeroDate;

    fn from_str(s: &str) -> Result<Self, BadZeroDate> {
        match s {
            "null" => Ok(ZeroDatePolicy::Null),
            "error" => Ok(ZeroDatePolicy::Error),
            _ if is_valid_date_literal(s) => Ok(ZeroDatePolicy::Replace(s.to_owned())),
            _ => Err(BadZeroDate(s.to_owned())),
        }
    }
}

impl fmt::Display for ZeroDatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZeroDatePolicy::Null => f.write_str("null"),
            ZeroDatePolicy::Error => f.write_str("error"),
            ZeroDatePolicy::Replace(s) => f.write_str(s),
        }
    }
}

impl Serialize for ZeroDatePolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS.f` (1 to 6 digits), naming a real
/// calendar date and time of day within StarRocks' range (years 0000–9999).
fn is_valid_date_literal(s: &str) -> bool {
    fn num(b: &[u8]) -> Option<i32> {
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(b).ok()?.parse().ok()
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (num(&b[..4]), num(&b[5..7]), num(&b[8..10])) else {
        return false;
    };
    let (Ok(y), Ok(m), Ok(d)) = (i16::try_from(y), i8::try_from(m), i8::try_from(d)) else {
        return false;
    };
    if jiff::civil::Date::new(y, m, d).is_err() {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if b.len() < 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let (Some(h), Some(mi), Some(sec)) = (num(&b[11..13]), num(&b[14..16]), num(&b[17..19])) else {
        return false;
    };
    if h > 23 || mi > 59 || sec > 59 {
        return false;
    }
    match b.len() {
        19 => true,
        21..=26 => b[19] == b'.' && num(&b[20..]).is_some(),
        _ => false,
    }
}

/// The settings the decoder needs, gathered from `[target]` (or from `starpipe decode` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeSettings {
    /// `defaultZeroDate`.
    pub default_zero_date: ZeroDatePolicy,
    /// `sourceTimezone`: the zone TIMESTAMP text was rendered in by the producer.
    pub source_timezone: Zone,
    /// `timezone` when `enableTimeZoneProcess` is true: convert TIMESTAMP values into this zone.
    /// `None` means no conversion.
    pub target_timezone: Option<Zone>,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        DecodeSettings {
            default_zero_date: ZeroDatePolicy::Null,
            source_timezone: Zone::utc(),
            target_timezone: None,
        }
    }
}

impl DecodeSettings {
    /// The decoder options for `format` with these settings.
    pub fn decode_options(&self, format: crate::decode::Format) -> crate::decode::DecodeOptions {
        let mut options = crate::decode::DecodeOptions::new(format);
        options.zero_date = self.default_zero_date.clone();
        options.zones = crate::decode::ZoneSettings {
            source: self.source_timezone.tz().clone(),
            target: self.target_timezone.as_ref().map(|z| z.tz().clone()),
        };
        options
    }

    /// Builds the settings from raw text, as given on the `decode` command line; `names` gives
    /// the names to report problems under (flag names). Every problem is collected.
    pub fn from_parts(
        default_zero_date: Option<&str>,
        source_timezone: Option<&str>,
        timezone: Option<&str>,
        enable_time_zone_process: bool,
        names: [&str; 4],
    ) -> Result<Self, Problems> {
        let mut problems = Problems::default();
        let mut settings = DecodeSettings::default();
        if let Some(s) = default_zero_date {
            match s.parse() {
                Ok(p) => settings.default_zero_date = p,
                Err(e) => problems.push(Problem::new(names[0], format!("{e}"))),
            }
        }
        if let Some(s) = source_timezone {
            match s.parse() {
                Ok(z) => settings.source_timezone = z,
                Err(e) => problems.push(Problem::new(names[1], format!("{e}"))),
            }
        }
        let zone = match timezone.map(str::parse::<Zone>) {
            Some(Ok(z)) => Some(z),
            Some(Err(e)) => {
                problems.push(Problem::new(names[2], format!("{e}")));
                None
            }
            None => {
                if enable_time_zone_process {
                    problems.push(Problem::new(
                        names[2],
                        format!("required when {} is true", names[3]),
                    ));
                }
                None
            }
        };
        if enable_time_zone_process {
            settings.target_timezone = zone;
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_date_literals() {
        for ok in [
            "1970-01-01",
            "0000-01-01",
            "1970-01-01 00:00:00",
            "2024-02-29 23:59:59.5",
            "9999-12-31 23:59:59.999999",
        ] {
            assert!(is_valid_date_literal(ok), "{ok}");
        }
        for bad in [
            "0000-00-00",
            "2023-02-29",
            "1970-1-01",
            "1970-01-01T00:00:00",
            "1970-01-01 24:00:00",
            "1970-01-01 00:00:00.",
            "1970-01-01 00:00:00.1234567",
            "1970-01-01 00:00",
            "nul",
            "",
        ] {
            assert!(!is_valid_date_literal(bad), "{bad}");
        }
    }

    #[test]
    fn zones() {
        for ok in [
            "UTC",
            "+08:00",
            "-05:30",
            "Asia/Shanghai",
            "America/New_York",
        ] {
            assert_eq!(ok.parse::<Zone>().unwrap().name(), ok);
        }
        for bad in ["Mars/Olympus", "+8", "+24:00", "08:00", "", "../etc/passwd"] {
            assert!(bad.parse::<Zone>().is_err(), "{bad}");
        }
    }
}
