//! Strings put together without `core::fmt`: `cat!(a, b, ...)` appends
//! each piece (text, a number, a zero-padded or hex number, an error) to
//! one `String`. Replaces `format!`, `write!` and `to_string` on numbers
//! in the crate's code, so the .wasm carries none of `fmt`'s machinery
//! (`fmt::write`, `Formatter`'s padding, the integer `Display`s): 0.3 KB
//! gzipped less in all (docs/size.md). Tests may still use `format!`.

use crate::prelude::*;

/// What `cat!` can append.
pub trait Piece {
    fn put(&self, out: &mut String);
}

impl Piece for str {
    #[inline]
    fn put(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Piece for String {
    #[inline]
    fn put(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Piece for bool {
    fn put(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl Piece for char {
    #[inline]
    fn put(&self, out: &mut String) {
        out.push(*self);
    }
}

impl<T: Piece + ?Sized> Piece for &T {
    #[inline]
    fn put(&self, out: &mut String) {
        (**self).put(out);
    }
}

impl<T: Piece + ?Sized> Piece for &mut T {
    #[inline]
    fn put(&self, out: &mut String) {
        (**self).put(out);
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            #[inline]
            fn put(&self, out: &mut String) {
                push_int(out, false, *self as u64, 10, 0)
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64, usize);

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            #[inline]
            fn put(&self, out: &mut String) {
                push_int(out, *self < 0, self.unsigned_abs() as u64, 10, 0)
            }
        }
    )*};
}
signed!(i32, i64);

/// A number with at least `width` digits, zero-padded, in base `radix`
/// (10 or 16; hex digits lowercase).
#[derive(Clone, Copy)]
pub struct Padded {
    pub n: u64,
    pub width: u8,
    pub radix: u8,
}

/// The integers `zeros` and `hex` take (none negative where they are used).
pub trait Whole: Copy {
    fn whole(self) -> u64;
}

macro_rules! whole {
    ($($t:ty),*) => {$(
        impl Whole for $t {
            #[inline]
            fn whole(self) -> u64 {
                self as u64
            }
        }
    )*};
}
whole!(u8, u16, u32, u64, usize, i32, i64);

/// `n` zero-padded to `width` decimal digits (`{n:0width}`).
pub fn zeros(n: impl Whole, width: u8) -> Padded {
    Padded {
        n: n.whole(),
        width,
        radix: 10,
    }
}

/// `n` in lowercase hex, zero-padded to `width` digits (`{n:0widthx}`).
pub fn hex(n: impl Whole, width: u8) -> Padded {
    Padded {
        n: n.whole(),
        width,
        radix: 16,
    }
}

impl Piece for Padded {
    fn put(&self, out: &mut String) {
        push_int(out, false, self.n, self.radix as u64, self.width as usize);
    }
}

/// One routine for every integer: its sign, then its magnitude's digits.
#[inline(never)]
fn push_int(out: &mut String, negative: bool, mut n: u64, radix: u64, width: usize) {
    if negative {
        out.push('-');
    }
    let mut digits = [0u8; 64];
    let mut i = digits.len();
    loop {
        i -= 1;
        let d = (n % radix) as u8;
        digits[i] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        n /= radix;
        if n == 0 && digits.len() - i >= width.min(digits.len()) {
            break;
        }
    }
    for &b in &digits[i..] {
        out.push(b as char);
    }
}

/// A number as text (`n.to_string()`): one copy, for `i64`.
pub fn num(n: i64) -> String {
    let mut s = String::new();
    n.put(&mut s);
    s
}

/// `lits[0]`, `args[0]`, `lits[1]`, ... `lits[n]`: `cat!`'s one routine.
/// As in `format!`, the literal text is one constant table and each other
/// piece costs its call site two words (a pointer and its vtable), with
/// none of `fmt`'s machinery behind it.
#[inline(never)]
pub fn concat(lits: &[&str], args: &[&dyn Piece]) -> String {
    let mut out = String::new();
    for (i, lit) in lits.iter().enumerate() {
        out.push_str(lit);
        if let Some(arg) = args.get(i) {
            arg.put(&mut out);
        }
    }
    out
}

/// `cat!(a, b, ...)`: the pieces (see [`Piece`]) one after another, in a
/// new `String`. Literals (of any kind: `1` reads "1") are merged into
/// the constant text; everything else is a [`Piece`].
#[macro_export]
macro_rules! cat {
    (@ [$($lit:expr),*] [$($arg:expr),*] [$($pend:literal)*] ;) => {
        $crate::engine::lean::text::concat(
            &[$($lit,)* concat!("" $(, $pend)*)],
            &[$(&$arg as &dyn $crate::engine::lean::text::Piece),*],
        )
    };
    (@ [$($lit:expr),*] [$($arg:expr),*] [$($pend:literal)*] ; $l:literal $(, $($rest:tt)*)?) => {
        $crate::cat!(@ [$($lit),*] [$($arg),*] [$($pend)* $l] ; $($($rest)*)?)
    };
    (@ [$($lit:expr),*] [$($arg:expr),*] [$($pend:literal)*] ; $e:expr $(, $($rest:tt)*)?) => {
        $crate::cat!(@ [$($lit,)* concat!("" $(, $pend)*)] [$($arg,)* $e] [] ; $($($rest)*)?)
    };
    ($($t:tt)*) => {
        $crate::cat!(@ [] [] [] ; $($t)*)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_read_as_format_writes_them() {
        let name = String::from("b");
        let n: u64 = 42;
        assert_eq!(cat!("a", name, '/', n, "."), format!("a{name}/{n}."));
        assert_eq!(
            cat!(-7i64, 0u8, u64::MAX),
            format!("{}{}{}", -7i64, 0u8, u64::MAX)
        );
        assert_eq!(cat!(i64::MIN), i64::MIN.to_string());
        assert_eq!(cat!(zeros(7, 20)), format!("{:020}", 7));
        assert_eq!(cat!(zeros(2026, 4), zeros(3, 2)), "202603");
        assert_eq!(cat!(zeros(123456, 2)), "123456");
        assert_eq!(cat!(hex(0xabc, 6), hex(0, 3)), "000abc000");
        assert_eq!(cat!(hex(u64::MAX, 0)), format!("{:x}", u64::MAX));
        assert_eq!(cat!(zeros(0, 0)), "0");
        assert_eq!(num(1_700_000_000_000), "1700000000000");
        assert_eq!(num(-3), "-3");
        assert_eq!(cat!(), "");
    }
}
