//! Byte-level helpers for the per-cell hot path, shared by the decoder and the encoder.
//!
//! Column names are compared once or twice per cell (the decoder against the message's type
//! map, the encoder against the names it resolved last time). They are a few bytes long, so
//! the call into `memcmp` that `==` on slices makes cost more than the comparison: in the
//! decode bench it was 7 % of decode+encode. [`same`] compares inline, a word at a time, and
//! [`append`] copies a short value inline for the same reason.

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

/// `YYYY-MM-DD` at the start of `b`, read as year, month and day without range checks; `None`
/// unless `b` starts with that shape. Dates and times are about a sixth of a CDC row's cells,
/// and both the decoder and the encoder read each one, so the shape is checked a word at a
/// time (see [`shaped_digits`]) rather than a byte at a time.
#[inline(always)]
pub(crate) fn date_fields(b: &[u8]) -> Option<(u16, u8, u8)> {
    let b = b.get(..10)?;
    // Two overlapping words: `YYYY-MM-` and `YY-MM-DD`.
    let ymd = shaped_digits(le_word8(b, 0), b"0000-00-")?;
    let day = shaped_digits(le_word8(b, 2), b"00-00-00")?;
    let d = |x: u64, k: u32| (x >> (8 * k)) as u8;
    let year = u16::from(d(ymd, 0) * 10 + d(ymd, 1)) * 100 + u16::from(d(ymd, 2) * 10 + d(ymd, 3));
    Some((year, d(ymd, 5) * 10 + d(ymd, 6), d(day, 6) * 10 + d(day, 7)))
}

/// `HH:MM:SS` at the start of `b`, read as hour, minute and second without range checks; `None`
/// unless `b` starts with that shape (see [`date_fields`]).
#[inline(always)]
pub(crate) fn time_fields(b: &[u8]) -> Option<(u8, u8, u8)> {
    let hms = shaped_digits(le_word8(b.get(..8)?, 0), b"00:00:00")?;
    let d = |k: u32| (hms >> (8 * k)) as u8;
    Some((d(0) * 10 + d(1), d(3) * 10 + d(4), d(6) * 10 + d(7)))
}

/// The days of `month` (1..=12) in `year` of the proleptic Gregorian calendar; `None` for any
/// other month. The decoder's and the encoder's date checks share it.
pub(crate) fn days_in_month(year: u16, month: u8) -> Option<u8> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if leap => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// Matches the eight bytes of `word` (read by [`le_word8`]) against `shape`, where `0` stands
/// for any ASCII digit and any other byte for itself. On a match, each digit's byte holds its
/// value and every other byte zero.
#[inline(always)]
fn shaped_digits(word: u64, shape: &[u8; 8]) -> Option<u64> {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let literals = u64::from_le_bytes(shape.map(|c| if c == b'0' { 0 } else { 0xFF }));
    // XOR with the shape: a digit becomes its value (0..=9), a matching literal 0.
    let x = word ^ u64::from_le_bytes(*shape);
    // A byte is at most 9 when neither it nor it plus 0x76 has its high bit set. A byte of
    // 0x8A or more carries into the next one, but it fails the check itself.
    let over_nine = (x | x.wrapping_add(0x7676_7676_7676_7676)) & HIGH_BITS;
    (over_nine == 0 && x & literals == 0).then_some(x)
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

/// Eight bytes from `at`, the first in the lowest byte on any platform.
#[inline(always)]
fn le_word8(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Appends `src` to `out`, as `extend_from_slice` does. Most cells are a few bytes long, and
/// `extend_from_slice` of a length the compiler cannot see calls `memcpy`, whose call and size
/// dispatch cost more than the copy: up to 32 bytes (a datetime is 19) are copied inline
/// instead, as two overlapping loads and stores (the way [`same`] compares).
#[inline(always)]
pub(crate) fn append(out: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    if n > 32 {
        out.extend_from_slice(src);
        return;
    }
    out.reserve(n);
    let len = out.len();
    let spare = &mut out.spare_capacity_mut()[..n];
    let from = src.as_ptr();
    let to = spare.as_mut_ptr().cast::<u8>();
    // SAFETY: `reserve` made `n` bytes of spare capacity, and `spare` is exactly those bytes;
    // each copy below reads only inside `src` (offsets 0 and n - w for a width w ≤ n) and
    // writes only inside `spare` at the same offsets, so every byte 0..n is written (the two
    // copies overlap when n < 2w). The two buffers cannot overlap: `out` is borrowed mutably.
    unsafe {
        if n >= 16 {
            std::ptr::copy_nonoverlapping(from, to, 16);
            std::ptr::copy_nonoverlapping(from.add(n - 16), to.add(n - 16), 16);
        } else if n >= 8 {
            std::ptr::copy_nonoverlapping(from, to, 8);
            std::ptr::copy_nonoverlapping(from.add(n - 8), to.add(n - 8), 8);
        } else if n >= 4 {
            std::ptr::copy_nonoverlapping(from, to, 4);
            std::ptr::copy_nonoverlapping(from.add(n - 4), to.add(n - 4), 4);
        } else if n >= 2 {
            std::ptr::copy_nonoverlapping(from, to, 2);
            std::ptr::copy_nonoverlapping(from.add(n - 2), to.add(n - 2), 2);
        } else if n == 1 {
            // Not a loop over 1..=3 bytes: the compiler turns such a loop into a `memcpy` call.
            *to = *from;
        }
        out.set_len(len + n);
    }
}

#[cfg(test)]
mod tests {
    use super::{
        append, canonical_integer, date_fields, days_in_month, integer_value, same, time_fields,
    };
    use proptest::prelude::*;

    /// Every length around the inline copies' widths, onto vectors with no spare capacity, a
    /// little and plenty.
    #[test]
    fn append_is_extend_from_slice() {
        let src: Vec<u8> = (1..=70).collect();
        for n in 0..=70 {
            for spare in [0, 3, 64] {
                let mut out = Vec::with_capacity(5 + spare);
                out.extend_from_slice(b"head:");
                let mut expected = out.clone();
                append(&mut out, &src[..n]);
                expected.extend_from_slice(&src[..n]);
                assert_eq!(out, expected, "n = {n}, spare = {spare}");
            }
        }
    }

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

    /// The oracle: each field's digits checked and read one byte at a time.
    fn fields_by_bytes(b: &[u8], shape: &[u8]) -> Option<Vec<u16>> {
        let b = b.get(..shape.len())?;
        let mut fields = vec![];
        let mut current = None;
        for (&c, &s) in b.iter().zip(shape) {
            if s == b'0' {
                if !c.is_ascii_digit() {
                    return None;
                }
                current = Some(current.unwrap_or(0) * 10 + u16::from(c - b'0'));
            } else {
                if c != s {
                    return None;
                }
                fields.extend(current.take());
            }
        }
        fields.extend(current);
        Some(fields)
    }

    proptest! {
        #[test]
        fn date_and_time_fields_are_read_as_byte_by_byte(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T0-9:.]{0,12}|[0-9:/ ./Z-]{0,14}|[\\x00-\\xff]{0,12}",
        ) {
            let b = text.as_bytes();
            prop_assert_eq!(
                date_fields(b).map(|(y, m, d)| vec![y, m.into(), d.into()]),
                fields_by_bytes(b, b"0000-00-00")
            );
            prop_assert_eq!(
                time_fields(b).map(|(h, m, s)| vec![h.into(), m.into(), s.into()]),
                fields_by_bytes(b, b"00:00:00")
            );
        }
    }

    #[test]
    fn date_and_time_fields_refuse_near_misses_of_every_byte() {
        for (text, shape) in [
            ("2024-06-30", &b"0000-00-00"[..]),
            ("23:59:07", b"00:00:00"),
        ] {
            for at in 0..text.len() {
                for c in 0..=255u8 {
                    let mut b = text.as_bytes().to_vec();
                    b[at] = c;
                    let expected = fields_by_bytes(&b, shape);
                    let got = if shape.len() == 10 {
                        date_fields(&b).map(|(y, m, d)| vec![y, m.into(), d.into()])
                    } else {
                        time_fields(&b).map(|(h, m, s)| vec![h.into(), m.into(), s.into()])
                    };
                    assert_eq!(got, expected, "{b:?}");
                }
            }
        }
    }

    #[test]
    fn days_in_month_follow_the_gregorian_leap_rule() {
        assert_eq!(days_in_month(2024, 2), Some(29));
        assert_eq!(days_in_month(2023, 2), Some(28));
        assert_eq!(days_in_month(1900, 2), Some(28));
        assert_eq!(days_in_month(2000, 2), Some(29));
        assert_eq!(days_in_month(0, 2), Some(29));
        assert_eq!(days_in_month(2023, 4), Some(30));
        assert_eq!(days_in_month(2023, 12), Some(31));
        assert_eq!(days_in_month(2023, 0), None);
        assert_eq!(days_in_month(2023, 13), None);
    }

    #[test]
    fn canonical_integers_refuse_near_misses_of_every_byte() {
        for text in ["1234567890123456789", "-9876543210987654", "12345678"] {
            for at in 0..text.len() {
                for c in 0..=255u8 {
                    let mut b = text.as_bytes().to_vec();
                    b[at] = c;
                    let expected = std::str::from_utf8(&b)
                        .ok()
                        .and_then(|t| t.parse::<i128>().ok().filter(|v| v.to_string() == t));
                    assert_eq!(canonical_integer(&b), expected, "{b:?}");
                }
            }
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
