//! The number parsers of typed MOODFLOW_CSV columns: exactly Arrow's
//! (what `TRY_CAST(text AS …)` gives), with a fast path for the plain
//! numbers that fill a ratings file.
//!
//! Arrow's parsers handle signs, blanks around the number, exponents,
//! `inf` and `NaN` through general code (`atoi`, `lexical_core`), and at
//! 10M generated ratings they were a seventh of the CPU of reading
//! `ratings.csv` into its four columns. A field of ASCII digits, with at
//! most one `.` between digits, short enough that its digits make an
//! exact integer, is computed here directly; anything else goes to
//! Arrow's parser. Both give the same value for every input (a test
//! compares them): an integer of at most 18 digits cannot overflow an
//! `i64`, and for a decimal `m / 10^k` with `m < 2^53` and `k <= 22` both
//! the numerator and the power are exact doubles, so IEEE division rounds
//! the quotient once, to the double nearest the decimal: the correctly
//! rounded value `lexical_core` returns too (Clinger's fast path).

use datafusion::arrow::compute::kernels::cast_utils::Parser;
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type};

/// `10^k` for the fractional digits the fast path takes (all exact).
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The value of a field of ASCII digits only, when it has between one and
/// `max` of them (so that it cannot overflow).
fn digits(bytes: &[u8], max: usize) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > max || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// `Int64Type::parse`.
pub fn parse_i64(text: &str) -> Option<i64> {
    match digits(text.as_bytes(), 18) {
        // At most 18 digits: below 10^18 < i64::MAX.
        Some(n) => i64::try_from(n).ok(),
        None => Int64Type::parse(text),
    }
}

/// `Int32Type::parse`.
pub fn parse_i32(text: &str) -> Option<i32> {
    match digits(text.as_bytes(), 9) {
        // At most 9 digits: below 10^9 < i32::MAX.
        Some(n) => i32::try_from(n).ok(),
        None => Int32Type::parse(text),
    }
}

/// `Float64Type::parse`.
pub fn parse_f64(text: &str) -> Option<f64> {
    plain_decimal(text.as_bytes()).or_else(|| Float64Type::parse(text))
}

/// `digits` or `digits.digits`, 15 characters at most (so fewer than 2^53
/// as an integer, and at most 14 fractional digits): its exact value,
/// rounded once.
fn plain_decimal(bytes: &[u8]) -> Option<f64> {
    if bytes.len() > 15 {
        return None;
    }
    let (whole, fraction) = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => (&bytes[..dot], &bytes[dot + 1..]),
        None => (bytes, &[][..]),
    };
    let w = digits(whole, 15)?;
    if fraction.is_empty() {
        // `4.` stays with Arrow's parser; `4` is whole.
        return (whole.len() == bytes.len()).then_some(w as f64);
    }
    let f = digits(fraction, 15)?;
    let m = w * 10u64.pow(fraction.len() as u32) + f;
    Some(m as f64 / POW10[fraction.len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fast path and Arrow's parser agree, bit for bit (NaN aside).
    fn same(text: &str) {
        assert_eq!(parse_i64(text), Int64Type::parse(text), "i64 {text:?}");
        assert_eq!(parse_i32(text), Int32Type::parse(text), "i32 {text:?}");
        let (fast, arrow) = (parse_f64(text), Float64Type::parse(text));
        assert_eq!(fast.map(f64::to_bits), arrow.map(f64::to_bits), "f64 {text:?}");
    }

    #[test]
    fn edges_agree_with_arrow() {
        // Separated by `|`: blanks, signs and empty fields are cases too.
        let cases = "|0|00|4|4.0|3.5|0.5|5.|.5|4.|-1|+1| 1|1 |1e3|1.2.3|999999999|1000000000|2147483647|\
                     2147483648|99999999999999|999999999999999|9999999999999999|999999999999999999|\
                     9223372036854775807|9223372036854775808|0.1|0.2|0.3|1.15|2.675|0.123456789012345|\
                     1234567.1234567|12345678.1234567|0.00000000000001|9007199254740993|inf|NaN|\u{661}|4,0";
        for text in cases.split('|') {
            same(text);
        }
    }

    #[test]
    fn plain_numbers_take_the_fast_path() {
        assert_eq!(plain_decimal(b"3.5"), Some(3.5));
        assert_eq!(plain_decimal(b"1234567890"), Some(1234567890.0));
        assert_eq!(plain_decimal(b"4."), None);
        assert_eq!(plain_decimal(b"-3.5"), None);
        assert_eq!(digits(b"123456789012345678", 18), Some(123456789012345678));
        assert_eq!(digits(b"1234567890123456789", 18), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn any_short_number_agrees_with_arrow(text in "[0-9]{0,12}(\\.[0-9]{0,8})?") {
            same(&text);
        }

        #[test]
        fn any_text_agrees_with_arrow(text in "[-+ .0-9eE]{0,20}") {
            same(&text);
        }

        #[test]
        fn any_decimal_agrees_with_arrow(whole in 0u64..1_000_000_000, fraction in 0u64..100_000, width in 1usize..6) {
            same(&format!("{whole}.{fraction:0width$}"));
        }
    }
}
