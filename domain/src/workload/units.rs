//! The units a compose file writes: Go-style durations (`1m30s`), byte sizes (`512M`) and CPU
//! shares (`0.5`), parsed into whole numbers the Swarm spec uses.

/// Nanoseconds of a duration such as `10s`, `1m30s`, `500ms` or `1h` (a bare `0` is zero).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let bad = || format!("{text:?} is not a duration (write e.g. 10s, 1m30s or 500ms)");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let part = number * scale;
        if !part.is_finite() || part > u64::MAX as f64 / 2.0 {
            return Err(format!("{text:?} is too long"));
        }
        total = total.checked_add(part as u64).ok_or_else(bad)?;
    }
    Ok(total)
}

/// Bytes of a size such as `512M`, `1g`, `64kb` or `1048576`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a size (write e.g. 512M, 1G or 65536)");
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if split == 0 {
        return Err(bad());
    }
    let number: f64 = text[..split].parse().map_err(|_| bad())?;
    let scale: f64 = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0f64.powi(4),
        _ => return Err(bad()),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes as u64)
}

/// Billionths of a CPU of a share such as `0.5` or `2`.
pub fn parse_cpus(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let cpus: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of CPUs (write e.g. 0.5 or 2)"))?;
    if !cpus.is_finite() || cpus <= 0.0 || cpus > 1024.0 {
        return Err(format!(
            "{text:?} is not a number of CPUs between 0 and 1024"
        ));
    }
    Ok((cpus * 1e9).round() as u64)
}

/// A duration in nanoseconds written back the short way (`1m30s`, `500ms`).
pub fn format_duration(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    if !nanos.is_multiple_of(1_000_000_000) {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let mut secs = nanos / 1_000_000_000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 {
        out.push_str(&format!("{secs}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        for bad in ["", "10", "s", "10x", "1m30", "-1s", "ms10"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(90_000_000_000), "1m30s");
        assert_eq!(format_duration(500_000_000), "500ms");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(parse_bytes("512M"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1x").is_err());
        assert_eq!(parse_cpus("0.5"), Ok(500_000_000));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("many").is_err());
    }
}
