// SPDX-License-Identifier: GPL-2.0
//! Byte-level helpers shared by the parsers: field splitting and number
//! parsing without allocation.

use crate::Error;

/// The fields of a line, separated by runs of spaces (or tabs).
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
    line: u64,
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl<'a> Fields<'a> {
    pub(crate) fn new(text: &'a [u8], line: u64) -> Self {
        Fields { rest: text, line }
    }

    /// The next field, if any.
    pub(crate) fn next_field(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| !is_space(b))?;
        let rest = &self.rest[start..];
        let end = rest.iter().position(|&b| is_space(b)).unwrap_or(rest.len());
        let (field, rest) = rest.split_at(end);
        self.rest = rest;
        Some(field)
    }

    /// The next field, or an error saying what was expected there.
    pub(crate) fn expect(&mut self, expected: &'static str) -> Result<&'a [u8], Error> {
        self.next_field()
            .ok_or_else(|| Error::parse(self.line, expected, None))
    }

    /// Everything after the next single separator, unsplit (for free text).
    pub(crate) fn remainder(&mut self) -> &'a [u8] {
        let rest = match self.rest.first() {
            Some(&b) if is_space(b) => &self.rest[1..],
            _ => self.rest,
        };
        self.rest = &[];
        rest
    }

    /// The next field parsed by `parse`, or an error naming `expected`.
    pub(crate) fn parse<T>(
        &mut self,
        expected: &'static str,
        parse: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<T, Error> {
        let field = self.expect(expected)?;
        parse(field).ok_or_else(|| Error::parse(self.line, expected, Some(field)))
    }

    /// Requires the next field to be exactly `word`.
    pub(crate) fn keyword(&mut self, word: &'static str) -> Result<(), Error> {
        let field = self.expect(word)?;
        if field == word.as_bytes() {
            Ok(())
        } else {
            Err(Error::parse(self.line, word, Some(field)))
        }
    }
}

/// Hexadecimal digits without prefix: `fe000008`, `C041`. At most 16
/// significant digits (leading zeros are fine).
pub(crate) fn hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in s {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        if value >> 60 != 0 {
            return None;
        }
        value = (value << 4) | u64::from(digit);
    }
    Some(value)
}

/// `s` as hex of 1 to `digits` digits (no `0x`), at most `max`: the
/// fields of command-line arguments (PCI addresses, IDs, ranges).
pub(crate) fn hex_upto(s: &str, digits: usize, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok().filter(|&v| v <= max)
}

/// Hexadecimal with a `0x` (or `0X`) prefix: `0xfebc0008`.
pub(crate) fn hex0x(s: &[u8]) -> Option<u64> {
    match s {
        [b'0', b'x' | b'X', digits @ ..] => hex(digits),
        _ => None,
    }
}

/// Unsigned decimal.
pub(crate) fn dec(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

/// Signed decimal that fits an `i32` (`%d`): `0`, `-1`, `4242`.
pub(crate) fn dec_i32(s: &[u8]) -> Option<i32> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let magnitude = i64::try_from(dec(digits)?).ok()?;
    i32::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Leading spaces and the line terminator (`\n`, `\r\n`) and trailing
/// spaces removed.
pub(crate) fn trim(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| !(is_space(b) || b == b'\n' || b == b'\r'))
        .map_or(0, |i| i + 1);
    let line = &line[..end];
    let start = line.iter().position(|&b| !is_space(b)).unwrap_or(end);
    &line[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(hex(b"fe000008"), Some(0xfe00_0008));
        assert_eq!(hex(b"C041"), Some(0xc041));
        assert_eq!(hex(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(hex(b"0000ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(hex(b"1ffffffffffffffff"), None);
        assert_eq!(hex(b""), None);
        assert_eq!(hex(b"12g4"), None);
        assert_eq!(hex0x(b"0x1f"), Some(0x1f));
        assert_eq!(hex0x(b"1f"), None);
        assert_eq!(hex0x(b"0x"), None);
        assert_eq!(dec(b"123"), Some(123));
        assert_eq!(dec(b"18446744073709551616"), None);
        assert_eq!(dec_i32(b"-1"), Some(-1));
        assert_eq!(dec_i32(b"2147483648"), None);
        assert_eq!(dec_i32(b"-"), None);
    }

    #[test]
    fn fields_and_trim() {
        let mut f = Fields::new(b"MARK 1.000000  two  spaces", 1);
        assert_eq!(f.next_field(), Some(&b"MARK"[..]));
        assert_eq!(f.next_field(), Some(&b"1.000000"[..]));
        assert_eq!(f.remainder(), b" two  spaces");
        assert_eq!(f.next_field(), None);
        assert_eq!(trim(b"  R 4 \r\n"), b"R 4");
        assert_eq!(trim(b" \n"), b"");
    }
}
