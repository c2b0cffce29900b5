//! A whole number on the command line (`-j 8`, `--depth 3`), checked against its range while the
//! command line is parsed, with a message that says what is wrong (clap's own parser takes `-1`
//! for an option: "unexpected argument '-1'").

use std::ops::RangeInclusive;

/// A clap `value_parser` for a whole number in `range` (its start 0 or 1). Give the argument
/// `allow_negative_numbers = true` so that `-1` reaches it and is told "must be positive".
pub fn in_range<T: TryFrom<u64>>(
    range: RangeInclusive<u64>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |arg: &str| {
        let positive = if *range.start() == 0 {
            "must be positive or zero"
        } else {
            "must be positive"
        };
        if is_negative(arg) {
            return Err(positive.into());
        }
        let digits = arg.trim().trim_start_matches('+');
        let number: u64 = match digits.parse() {
            Ok(number) => number,
            Err(_) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("must be at most {}", range.end()));
            }
            Err(_) => return Err(format!("{arg:?} is not a whole number")),
        };
        if number < *range.start() {
            Err(positive.into())
        } else if number > *range.end() {
            Err(format!("must be at most {}", range.end()))
        } else {
            T::try_from(number).map_err(|_| "too large for this machine".into())
        }
    }
}

/// Whether `arg` reads as a negative number (`-1`, `-5KiB`, `-.5s`): a minus before a digit.
/// Not `--depth`, an option that took the place of a missing value.
pub fn is_negative(arg: &str) -> bool {
    arg.trim_start()
        .strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_in_range_is_taken() {
        let threads = in_range::<usize>(1..=1024);
        assert_eq!(threads("8"), Ok(8));
        assert_eq!(threads("1024"), Ok(1024));
        assert_eq!(in_range::<u64>(0..=u64::MAX)("0"), Ok(0));
    }

    #[test]
    fn out_of_range_and_malformed_numbers_say_why() {
        let threads = in_range::<usize>(1..=1024);
        assert_eq!(threads("-1"), Err("must be positive".into()));
        assert_eq!(
            threads("--depth"),
            Err("\"--depth\" is not a whole number".into())
        );
        assert_eq!(threads("0"), Err("must be positive".into()));
        assert_eq!(threads("1025"), Err("must be at most 1024".into()));
        assert_eq!(
            threads("many"),
            Err("\"many\" is not a whole number".into())
        );
        assert_eq!(threads(""), Err("\"\" is not a whole number".into()));
        assert_eq!(
            threads("99999999999999999999"),
            Err("must be at most 1024".into())
        );
        assert_eq!(threads("1.5"), Err("\"1.5\" is not a whole number".into()));
        let depth = in_range::<usize>(0..=u64::MAX);
        assert_eq!(depth("-1"), Err("must be positive or zero".into()));
        assert_eq!(
            in_range::<u8>(0..=u64::MAX)("300"),
            Err("too large for this machine".into())
        );
    }
}
