//! A duration on the command line (`300ms`, `10s`, `5m`), as every program's timeouts take it.

use std::time::Duration;

/// The longest duration accepted: a year. The clock's arithmetic (`Instant + Duration`) could
/// overflow with an unbounded one.
const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a timeout argument: above zero (a zero timeout would make every wait fail at once)
/// and at most a year. For clap's `value_parser`, so a bad one is a usage error (exit 2); give
/// the argument `allow_hyphen_values = true` so that `-1s` reaches here ("must be positive").
pub fn parse_timeout(arg: &str) -> Result<Duration, String> {
    if crate::number::is_negative(arg) {
        return Err("must be positive".into());
    }
    let timeout = humantime::parse_duration(arg)
        .map_err(|err| format!("{arg:?} is not a duration such as 300ms, 10s or 5m: {err}"))?;
    if timeout.is_zero() {
        Err("must be more than zero".into())
    } else if timeout > MAX {
        Err("must be at most 365d".into())
    } else {
        Ok(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_above_zero_and_at_most_a_year() {
        assert_eq!(parse_timeout("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_timeout("365d"), Ok(MAX));
        assert_eq!(parse_timeout("0s"), Err("must be more than zero".into()));
        assert_eq!(parse_timeout("366d"), Err("must be at most 365d".into()));
        assert!(parse_timeout("soon").is_err());
        assert_eq!(parse_timeout("-1s"), Err("must be positive".into()));
        assert_eq!(
            parse_timeout("--depth"),
            Err(
                "\"--depth\" is not a duration such as 300ms, 10s or 5m: expected number at 0"
                    .into()
            )
        );
    }
}
