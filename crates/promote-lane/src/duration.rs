//! Kubernetes-style durations (`10m`, `1h30m`, `1.5h`, `500ms`), as the CRD's pattern allows.

use std::time::Duration;

/// Parses a duration such as `10m` or `1h30m`; None when it does not match the grammar.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, seconds) = ["ms", "s", "m", "h"]
            .iter()
            .zip([0.001, 1.0, 60.0, 3600.0])
            .find(|(u, _)| rest.starts_with(**u) && !(**u == "m" && rest.starts_with("ms")))?;
        rest = &rest[unit.len()..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_crd_grammar() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m3s"), Some(Duration::from_secs(123)));
    }

    #[test]
    fn refuses_anything_else() {
        for bad in ["", "m", "10", "10d", "ten minutes", "1h-", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
