//! Durations, byte sizes, CPU counts and file modes, parsed and printed as Docker Compose does.
//!
//! Durations accept Go's syntax plus days and weeks (`1h2m3.5s`, `500ms`, `1d`) and print
//! Go-style (`1m0s`); byte sizes accept `512m`, `1gb`, `100k` or plain integers (binary
//! multiples) and print as a decimal string of bytes.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A span of time as Compose writes it. Holds nanoseconds like Go's `time.Duration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;

impl Duration {
    /// The duration in nanoseconds.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// As a standard duration (negative durations clamp to zero).
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }

    pub fn from_std(d: std::time::Duration) -> Self {
        Duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Parses `1h2m3.5s`, `500ms`, `-1.5h`, `2d`, `1w` (and `0`).
    pub fn parse(s: &str) -> Result<Duration, String> {
        parse_duration(s).ok_or_else(|| duration_error(s))
    }
}

fn duration_error(s: &str) -> String {
    let body = s.trim_start_matches(['-', '+']);
    if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit() || c == '.') {
        format!("time: missing unit in duration {s:?}")
    } else {
        format!("time: invalid duration {s:?}")
    }
}

fn unit_nanos(unit: &str) -> Option<i64> {
    Some(match unit {
        "ns" => NS,
        "us" | "µs" | "μs" => US,
        "ms" => MS,
        "s" => SEC,
        "m" => MIN,
        "h" => HOUR,
        "d" => 24 * HOUR,
        "w" => 7 * 24 * HOUR,
        _ => return None,
    })
}

fn parse_duration(s: &str) -> Option<Duration> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(Duration(0));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..n];
            rest = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let mult = i128::from(unit_nanos(&rest[..unit_len])?);
        rest = &rest[unit_len..];
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(mult)?;
        let mut scale = mult;
        for d in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            value += i128::from(d - b'0') * scale;
        }
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
    }
    let total = i64::try_from(total).ok()?;
    Some(Duration(if neg { -total } else { total }))
}

impl fmt::Display for Duration {
    /// Go's `time.Duration.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let u = self.0.unsigned_abs();
        let sign = if neg { "-" } else { "" };
        if u == 0 {
            return f.write_str("0s");
        }
        if u < SEC as u64 {
            let (unit, div) = if u < US as u64 {
                ("ns", 1u64)
            } else if u < MS as u64 {
                ("µs", US as u64)
            } else {
                ("ms", MS as u64)
            };
            return write!(f, "{sign}{}{unit}", frac(u, div));
        }
        let h = u / HOUR as u64;
        let m = (u % HOUR as u64) / MIN as u64;
        let s = u % MIN as u64;
        write!(f, "{sign}")?;
        if h > 0 {
            write!(f, "{h}h{m}m")?;
        } else if m > 0 {
            write!(f, "{m}m")?;
        }
        write!(f, "{}s", frac(s, SEC as u64))
    }
}

/// `v / div` as a decimal without trailing zeros.
fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like 1m30s")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                self.visit_str(&crate::yaml::format_float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes (`mem_limit`, `shm_size`, ...). Printed as a string of digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub i64);

impl ByteSize {
    pub fn bytes(self) -> i64 {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Parses `512m`, `1gb`, `100k`, `1.5GiB`, `1024` (multiples of 1024).
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        parse_bytes(s).ok_or_else(|| format!("invalid size: '{s}'"))
    }
}

fn parse_bytes(s: &str) -> Option<ByteSize> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(ByteSize(i));
    }
    let num_len = s
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (num, mut rest) = s.split_at(num_len);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars();
    let mut mult: f64 = 1.0;
    let mut next = chars.next();
    if let Some(c) = next {
        let power = match c.to_ascii_lowercase() {
            'k' => Some(1),
            'm' => Some(2),
            'g' => Some(3),
            't' => Some(4),
            'p' => Some(5),
            _ => None,
        };
        if let Some(p) = power {
            mult = 1024f64.powi(p);
            next = chars.next();
        }
    }
    if matches!(next, Some('i' | 'I')) {
        next = chars.next();
    }
    if matches!(next, Some('b' | 'B')) {
        next = chars.next();
    }
    if next.is_some() {
        return None;
    }
    let bytes = value * mult;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return None;
    }
    Some(ByteSize(bytes as i64))
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte size like 512m or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                i64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("size {v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                Ok(ByteSize(v as i64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A CPU count such as `cpus: 0.5` (Go keeps it as a 32-bit float).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Cpus(pub f32);

impl Cpus {
    pub fn is_zero(&self) -> bool {
        self.0 == 0.0
    }
    pub fn value(self) -> f32 {
        self.0
    }
}

/// Serializes a 32-bit float as Go prints it: shortest decimal, integers without a dot.
pub(crate) fn serialize_f32<S: Serializer>(v: f32, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return s.serialize_i64(v as i64);
    }
    let shortest: f64 = format!("{v}").parse().unwrap_or(f64::from(v));
    s.serialize_f64(shortest)
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_f32(self.0, s)
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cpus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of CPUs like 0.5")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cpus, E> {
                v.trim()
                    .parse::<f64>()
                    .map(|f| Cpus(f as f32))
                    .map_err(|_| E::custom(format!("invalid number of CPUs {v:?}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cpus, E> {
                Ok(Cpus(v as f32))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cpus, E> {
                Ok(Cpus(v as f32))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cpus, E> {
                Ok(Cpus(v as f32))
            }
        }
        d.deserialize_any(V)
    }
}

/// A file mode (`mode: 0440` on secrets and configs). Printed as an octal string (`"0440"`);
/// a string is read as octal, a number as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FileMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file mode like 0440")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileMode, E> {
                let digits = v.strip_prefix("0o").unwrap_or(v);
                u32::from_str_radix(digits, 8).map(FileMode).map_err(|_| {
                    E::custom(format!("invalid file mode {v:?}: expected octal digits"))
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::custom(format!("invalid file mode {v}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::custom(format!("invalid file mode {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        Duration::parse(s).unwrap().to_string()
    }

    #[test]
    fn durations_parse_and_print_like_go() {
        assert_eq!(d("1m"), "1m0s");
        assert_eq!(d("1m30s"), "1m30s");
        assert_eq!(d("500ms"), "500ms");
        assert_eq!(d("1h2m3.5s"), "1h2m3.5s");
        assert_eq!(d("90s"), "1m30s");
        assert_eq!(d("1d"), "24h0m0s");
        assert_eq!(d("1w"), "168h0m0s");
        assert_eq!(d("0"), "0s");
        assert_eq!(d("1.5us"), "1.5µs");
        assert_eq!(d("10ns"), "10ns");
        assert_eq!(d("1.5ms"), "1.5ms");
        assert_eq!(d("-2s"), "-2s");
        assert_eq!(d("2h"), "2h0m0s");
        assert_eq!(d("1s1ms"), "1.001s");
        assert_eq!(Duration::parse("90s").unwrap().as_std().as_secs(), 90);
    }

    #[test]
    fn duration_errors_are_clear() {
        assert_eq!(
            Duration::parse("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            Duration::parse("1x").unwrap_err(),
            "time: invalid duration \"1x\""
        );
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("1.s").is_ok());
    }

    #[test]
    fn byte_sizes_parse_like_go_units() {
        let b = |s: &str| ByteSize::parse(s).unwrap().0;
        assert_eq!(b("512m"), 536_870_912);
        assert_eq!(b("1gb"), 1_073_741_824);
        assert_eq!(b("1GiB"), 1_073_741_824);
        assert_eq!(b("100k"), 102_400);
        assert_eq!(b("1024"), 1024);
        assert_eq!(b("1.5k"), 1536);
        assert_eq!(b("10 m"), 10_485_760);
        assert_eq!(b("7b"), 7);
        assert_eq!(ByteSize::parse("12x").unwrap_err(), "invalid size: '12x'");
        assert!(ByteSize::parse("m").is_err());
        assert!(ByteSize::parse("1.2.3m").is_err());
    }

    #[test]
    fn typed_values_accept_strings_and_numbers() {
        let c: Cpus = serde_yaml_ng::from_str("'0.5'").unwrap();
        assert_eq!(c.0, 0.5);
        let c: Cpus = serde_yaml_ng::from_str("2").unwrap();
        assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(2));
        let c: Cpus = serde_yaml_ng::from_str("0.1").unwrap();
        assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(0.1));
        let b: ByteSize = serde_yaml_ng::from_str("512m").unwrap();
        assert_eq!(
            serde_json::to_value(b).unwrap(),
            serde_json::json!("536870912")
        );
        let b: ByteSize = serde_yaml_ng::from_str("1000").unwrap();
        assert_eq!(b.0, 1000);
        let m: FileMode = serde_yaml_ng::from_str("'0440'").unwrap();
        assert_eq!(m.0, 0o440);
        assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!("0440"));
        let t: Duration = serde_yaml_ng::from_str("1m").unwrap();
        assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!("1m0s"));
        assert!(serde_yaml_ng::from_str::<Duration>("10").is_err());
    }
}
