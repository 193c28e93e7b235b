//! Byte-level helpers for the per-cell hot path, shared by the decoder and the encoder.
//!
//! Column names are compared once or twice per cell (the decoder against the message's type
//! map, the encoder against the names it resolved last time). They are a few bytes long, so
//! the call into `memcmp` that `==` on slices makes cost more than the comparison: in the
//! decode bench it was 7 % of decode+encode. [`same`] compares inline, a word at a time.

/// Whether `a` and `b` hold the same bytes.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 4 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    if n < 8 {
        // Two overlapping words cover 4..=7 bytes.
        return word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4);
    }
    let mut i = 0;
    while i + 8 < n {
        if word8(a, i) != word8(b, i) {
            return false;
        }
        i += 8;
    }
    // The last word, overlapping the previous one when `n` is not a multiple of 8.
    word8(a, n - 8) == word8(b, n - 8)
}

/// The value of canonical integer text of at most 19 digits: an optional `-`, then digits
/// without a leading zero (`0` alone, never `-0`); `None` for any other text, which callers then
/// read the general way. Integer cells are mostly this, and one pass over the bytes that checks
/// and accumulates at once costs a third of checking, splitting and accumulating in turn.
#[inline(always)]
pub(crate) fn canonical_integer(text: &[u8]) -> Option<i128> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits {
        [] | [b'0', _, ..] => return None,
        [b'0'] if neg => return None,
        _ if digits.len() > 19 => return None,
        _ => {}
    }
    // 19 digits fit a u64 (at most 9,999,999,999,999,999,999 < 2^64).
    let mut magnitude = 0u64;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        magnitude = magnitude * 10 + u64::from(d);
    }
    let magnitude = i128::from(magnitude);
    Some(if neg { -magnitude } else { magnitude })
}

/// The value of `digits` (ASCII digits, no sign), negated when `neg`; `None` when it does not fit
/// an i128. The decoder and the encoder both check integer text against a column's range.
pub(crate) fn integer_value(neg: bool, digits: &[u8]) -> Option<i128> {
    if digits.len() <= 18 {
        // Cannot overflow: 18 digits fit a u64, and u64 arithmetic is far cheaper than i128.
        let magnitude = i128::from(
            digits
                .iter()
                .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0')),
        );
        return Some(if neg { -magnitude } else { magnitude });
    }
    digits.iter().try_fold(0i128, |v, &d| {
        let d = i128::from(d - b'0');
        let v = v.checked_mul(10)?;
        if neg {
            v.checked_sub(d)
        } else {
            v.checked_add(d)
        }
    })
}

/// Whether `a` and `b` are the same text.
#[inline(always)]
pub(crate) fn same_str(a: &str, b: &str) -> bool {
    same(a.as_bytes(), b.as_bytes())
}

#[inline(always)]
fn word4(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline(always)]
fn word8(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::{canonical_integer, integer_value, same};
    use proptest::prelude::*;

    proptest! {
        /// The oracle: text is a canonical integer when it is what the value prints as.
        #[test]
        fn canonical_integers_are_what_their_value_prints_as(
            text in "[-+]?[0-9]{0,21}|[-+0-9a/: ]{0,8}",
        ) {
            let digits = text.strip_prefix('-').unwrap_or(&text).len();
            let expected = text
                .parse::<i128>()
                .ok()
                .filter(|v| v.to_string() == text && digits <= 19);
            prop_assert_eq!(canonical_integer(text.as_bytes()), expected);
        }
    }

    #[test]
    fn canonical_integers_at_the_edges() {
        let v = |t: &str| canonical_integer(t.as_bytes());
        assert_eq!(v("0"), Some(0));
        assert_eq!(v("-0"), None);
        assert_eq!(v("00"), None);
        assert_eq!(v("+1"), None);
        assert_eq!(v("-"), None);
        assert_eq!(v(""), None);
        assert_eq!(v("9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(v("-9223372036854775808"), Some(i128::from(i64::MIN)));
        assert_eq!(
            v("18446744073709551615"),
            None,
            "20 digits: the general way"
        );
    }

    #[test]
    fn integer_values_on_both_sides_of_the_fast_path_and_of_i128() {
        let v = |neg, d: &str| integer_value(neg, d.as_bytes());
        assert_eq!(v(false, "0"), Some(0));
        assert_eq!(v(true, "0"), Some(0));
        assert_eq!(
            v(false, "999999999999999999"),
            Some(999_999_999_999_999_999)
        );
        assert_eq!(
            v(true, "1000000000000000000"),
            Some(-1_000_000_000_000_000_000)
        );
        assert_eq!(v(false, &i128::MAX.to_string()), Some(i128::MAX));
        assert_eq!(v(true, &i128::MIN.to_string()[1..]), Some(i128::MIN));
        assert_eq!(v(false, "170141183460469231731687303715884105728"), None);
        assert_eq!(v(false, &"9".repeat(40)), None);
    }

    #[test]
    fn agrees_with_slice_equality_at_every_length_and_position() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=base.len() {
            let a = &base[..n];
            assert!(same(a, a), "len {n}");
            assert!(!same(a, &base[..n.saturating_sub(1)]) || n == 0, "len {n}");
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert_eq!(same(a, &b), a == b.as_slice(), "len {n}, byte {at}");
            }
        }
    }
}
