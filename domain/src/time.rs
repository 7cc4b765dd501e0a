//! Human-friendly rendering of times and sizes, shared by SSR and the browser.

/// "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago".
pub fn ago(now_ms: i64, then_ms: i64) -> String {
    let secs = (now_ms - then_ms).max(0) / 1000;
    match secs {
        0..=1 => "just now".into(),
        2..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// "in 5 min", "in 3 h", "in 2 d" (or "expired").
pub fn until(now_ms: i64, then_ms: i64) -> String {
    let secs = (then_ms - now_ms) / 1000;
    match secs {
        i64::MIN..=0 => "expired".into(),
        1..=59 => format!("in {secs} s"),
        60..=3599 => format!("in {} min", secs / 60),
        3600..=86_399 => format!("in {} h", secs / 3600),
        _ => format!("in {} d", secs / 86_400),
    }
}

/// Binary units with one decimal: "512 B", "1.5 KiB", "7.8 GiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Milliseconds since the epoch of an RFC 3339 UTC time as engines write it
/// ("2026-12-02T07:35:01.123456789Z"); `None` for anything else.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t = text.strip_suffix('Z')?;
    let (date, clock) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut c = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (c.next()??, c.next()??, c.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        if !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        format!("{digits:0<3}").parse().ok()?
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + ms)
}

/// "3 d 4 h", "5 h 2 min", "42 s".
pub fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{secs} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_parse_to_epoch_milliseconds() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-12-02T07:35:01.123456789Z"),
            Some(1_796_196_901_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T12:00:00.5Z"),
            Some(951_825_600_500)
        );
        assert_eq!(
            parse_rfc3339_ms("0001-01-01T00:00:00Z").map(|v| v < 0),
            Some(true)
        );
        for bad in [
            "",
            "2026-12-02",
            "2026-13-02T00:00:00Z",
            "2026-12-02T07:35:01+01:00",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn ago_buckets() {
        assert_eq!(ago(10_000, 10_000), "just now");
        assert_eq!(ago(52_000, 10_000), "42 s ago");
        assert_eq!(ago(310_000, 10_000), "5 min ago");
        assert_eq!(ago(3 * 3_600_000 + 1, 0), "3 h ago");
        assert_eq!(ago(2 * 86_400_000, 0), "2 d ago");
        assert_eq!(ago(0, 5_000), "just now");
    }

    #[test]
    fn until_buckets() {
        assert_eq!(until(0, 0), "expired");
        assert_eq!(until(0, 30_000), "in 30 s");
        assert_eq!(until(0, 86_400_000 * 7), "in 7 d");
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(8 << 30), "8.0 GiB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(3720), "1 h 2 min");
        assert_eq!(duration(90_000), "1 d 1 h");
    }
}
