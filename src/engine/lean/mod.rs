//! Plain replacements, kept together, for standard-library and crate code
//! whose copies would cost the .wasm kilobytes: an ordered map in sorted
//! vectors (`vec_map`), one stable sort (`sort`), substring search and
//! integer reading (`scan`), strings put together without `core::fmt`
//! (`text`), and a byte-bounded cache that evicts by a
//! scan (`lru`). Each module says what it replaces and what that saved
//! (docs/size.md has the figures). They exist only for size: each is
//! tested against what it replaces, and callers use them as they would
//! the standard library's.

pub mod lru;
pub mod scan;
pub mod sort;
pub mod text;
pub mod vec_map;
