//! A size on the command line (`4096`, `64KiB`, `1MiB`, `2GiB`, `1TiB`), one parser for every
//! program's size flags, and one way to say a size in a message, so that a limit reads the same
//! everywhere.

/// The largest size accepted: 1 TiB, far past any limit these programs need; said in a unit the
/// parser accepts.
pub const MAX: u64 = 1 << 40;

/// The units, as powers of 1024. The single letters are kept because they were accepted first;
/// `bytes` because messages say sizes so (`body cut at 1000 bytes`).
const UNITS: [(&[&str], u32); 5] = [
    (&["", "B", "bytes", "byte"], 0),
    (&["KiB", "K", "k"], 10),
    (&["MiB", "M"], 20),
    (&["GiB", "G"], 30),
    (&["TiB", "T"], 40),
];

/// Parses a size: a whole number with an optional unit, `B`, `KiB`, `MiB`, `GiB`, `TiB` (or
/// `K`, `M`, `G`, `T`; all powers of 1024), at least 1 byte and at most [`MAX`]. For clap's
/// `value_parser` (`common::size::parse::<u64>`), so a bad size is a usage error (exit 2); give
/// the argument `allow_hyphen_values = true` so that `-1` reaches here ("must be positive")
/// rather than being taken for an option.
pub fn parse<T: TryFrom<u64>>(arg: &str) -> Result<T, String> {
    let arg = arg.trim();
    let digits = arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len());
    let (number, unit) = arg.split_at(digits);
    if crate::number::is_negative(arg) {
        return Err("must be positive".into());
    }
    if number.is_empty() || unit.starts_with(['.', ',']) {
        return Err(format!(
            "{arg:?} is not a size such as 4096, 64KiB or 1MiB (a whole number)"
        ));
    }
    // All digits: it can only fail by being too large.
    let Ok(number) = number.parse::<u64>() else {
        return Err("must be at most 1TiB".into());
    };
    let unit = unit.trim();
    let Some(&(_, shift)) = UNITS.iter().find(|(names, _)| names.contains(&unit)) else {
        return Err(format!("unknown unit {unit:?} (B, KiB, MiB, GiB, TiB)"));
    };
    let bytes = match number.checked_shl(shift).filter(|&n| n >> shift == number) {
        Some(0) => return Err("must be at least 1 byte".into()),
        Some(bytes) if bytes <= MAX => bytes,
        _ => return Err("must be at most 1TiB".into()),
    };
    T::try_from(bytes).map_err(|_| "too large for this machine".into())
}

/// `bytes` as a message says it, and (but for a fraction of a MiB) as [`parse`] reads it:
/// `10 MiB`, `1.5 MiB`, `512 KiB`, `1000 bytes`, `1 byte`.
pub fn format(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    match bytes {
        1 => "1 byte".into(),
        MIB.. if bytes.is_multiple_of(MIB) => format!("{} MiB", bytes / MIB),
        MIB.. => format!("{:.1} MiB", bytes as f64 / MIB as f64),
        1024.. if bytes.is_multiple_of(1024) => format!("{} KiB", bytes / 1024),
        _ => format!("{bytes} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(arg: &str) -> Result<u64, String> {
        parse(arg)
    }

    #[test]
    fn every_unit_reads_as_a_power_of_1024() {
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("7B"), Ok(7));
        assert_eq!(size("1000 bytes"), Ok(1000));
        assert_eq!(size("64KiB"), Ok(64 << 10));
        assert_eq!(size("64K"), Ok(64 << 10));
        assert_eq!(size("64k"), Ok(64 << 10));
        assert_eq!(size("1 MiB"), Ok(1 << 20));
        assert_eq!(size("3M"), Ok(3 << 20));
        assert_eq!(size("2GiB"), Ok(2 << 30));
        assert_eq!(size("2G"), Ok(2 << 30));
        assert_eq!(size("1TiB"), Ok(1 << 40));
        assert_eq!(size("1T"), Ok(1 << 40));
        assert_eq!(parse::<usize>("8KiB"), Ok(8192));
    }

    #[test]
    fn a_size_is_said_in_the_largest_unit_that_fits() {
        let said: Vec<String> = [0, 1, 1000, 8 << 10, 1536 << 10, 10 << 20, 2 << 30]
            .map(format)
            .into();
        let want = [
            "0 bytes",
            "1 byte",
            "1000 bytes",
            "8 KiB",
            "1.5 MiB",
            "10 MiB",
            "2048 MiB",
        ];
        assert_eq!(said, want);
        assert_eq!(size(&format(8 << 10)), Ok(8 << 10));
    }

    #[test]
    fn the_limit_is_said_in_a_unit_the_parser_takes() {
        assert_eq!(size("1025GiB"), Err("must be at most 1TiB".into()));
        assert_eq!(size("2TiB"), Err("must be at most 1TiB".into()));
        // A shift that would overflow is past the limit, not a wrapped small number.
        assert_eq!(
            size("18446744073709551615TiB"),
            Err("must be at most 1TiB".into())
        );
        let said = size("2TiB").unwrap_err();
        assert_eq!(size(said.rsplit(' ').next().unwrap()), Ok(MAX));
    }

    #[test]
    fn zero_negative_and_malformed_sizes_are_refused() {
        assert_eq!(size("0"), Err("must be at least 1 byte".into()));
        assert_eq!(size("0KiB"), Err("must be at least 1 byte".into()));
        assert_eq!(size("-1"), Err("must be positive".into()));
        assert_eq!(size("-1KiB"), Err("must be positive".into()));
        assert_eq!(
            size("5MB"),
            Err("unknown unit \"MB\" (B, KiB, MiB, GiB, TiB)".into())
        );
        assert!(size("").unwrap_err().contains("is not a size"));
        assert!(size("--depth").unwrap_err().contains("is not a size"));
        assert!(size("KiB").unwrap_err().contains("is not a size"));
        assert_eq!(
            size("99999999999999999999"),
            Err("must be at most 1TiB".into())
        );
        assert!(size("1.5MiB").unwrap_err().contains("(a whole number)"));
        assert_eq!(size(" 5 KiB "), Ok(5 << 10));
        assert_eq!(
            parse::<u8>("1KiB"),
            Err("too large for this machine".into())
        );
    }
}
