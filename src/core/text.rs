//! Substring search for the few multi-character patterns the crate looks
//! for (`://`, `, `, the ends of XML comments and sections). core's
//! `str::find` with a `&str` pattern brings its two-way searcher, 1.7 KB
//! of .wasm for needles of two to three bytes in short texts, where a
//! plain scan does as well.

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

/// `hay` split around the first `needle`.
pub fn split_once<'a>(hay: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    // A match of a whole `&str` starts and ends on char boundaries.
    find(hay, needle).map(|i| (&hay[..i], &hay[i + needle.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

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
