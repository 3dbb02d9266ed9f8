//! Text scans: substring search for the few multi-character patterns the
//! crate looks for (`://`, `, `, the ends of XML comments and sections),
//! and one integer reader. core's `str::find` with a `&str` pattern brings
//! its two-way searcher, 1.7 KB of .wasm for needles of two to three bytes
//! in short texts, where a plain scan does as well; `str::parse` brings a
//! copy per integer type.

/// The byte offset of the first `needle` in `hay`.
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    if n == 0 {
        return Some(0);
    }
    hay.as_bytes()
        .windows(n)
        .position(|w| w == needle.as_bytes())
}

/// An unsigned number in `radix` (10 or 16): ASCII digits only, no sign
/// or spaces, `None` past `u64::MAX`. One parser for every integer the
/// crate reads (timestamps, sizes, sequence numbers, character codes),
/// where `str::parse` and `from_str_radix` bring one copy per type.
pub fn number(s: &str, radix: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for c in s.chars() {
        let d = c.to_digit(radix)?;
        n = n.checked_mul(radix as u64)?.checked_add(d as u64)?;
    }
    Some(n)
}

/// `hay` split around the first `needle`.
pub fn split_once<'a>(hay: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    // A match of a whole `&str` starts and ends on char boundaries.
    find(hay, needle).map(|i| (&hay[..i], &hay[i + needle.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_as_the_standard_library_does_without_signs() {
        for s in ["0", "7", "0042", "18446744073709551615", "1700000000000"] {
            assert_eq!(number(s, 10), s.parse::<u64>().ok(), "{s:?}");
        }
        for s in [
            "",
            "18446744073709551616",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.5",
            "x",
            "١",
        ] {
            assert_eq!(number(s, 10), None, "{s:?}");
        }
        assert_eq!(number("00e9", 16), Some(0xe9));
        assert_eq!(number("FFFF", 16), Some(0xffff));
        assert_eq!(number("g", 16), None);
        assert_eq!(number("ffffffffffffffff", 16), Some(u64::MAX));
        assert_eq!(number("10000000000000000", 16), None);
    }

    #[test]
    fn finds_as_the_standard_library_does() {
        let cases = [
            ("http://host/path", "://"),
            ("Tue, 15 Nov 1994", ", "),
            ("<!-- a - b -- c -->rest", "-->"),
            ("]]]>", "]]>"),
            ("no match here", "://"),
            ("", "x"),
            ("abc", ""),
            ("ab", "abc"),
            ("héllo, wörld", ", "),
            ("aaa", "aa"),
        ];
        for (hay, needle) in cases {
            assert_eq!(find(hay, needle), hay.find(needle), "{hay:?} {needle:?}");
            assert_eq!(
                split_once(hay, needle),
                hay.split_once(needle),
                "{hay:?} {needle:?}"
            );
        }
    }
}
