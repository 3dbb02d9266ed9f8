//! What std's prelude gives every module, from `alloc`, so that the crate
//! builds the same with and without std (`use crate::prelude::*;`).

pub use alloc::boxed::Box;
pub use alloc::string::{String, ToString};
pub use alloc::vec;
pub use alloc::vec::Vec;
// Strings are put together by `cat!` (engine/lean/text.rs), not `format!`:
// the release .wasm carries no `core::fmt` machinery.
pub use crate::cat;
pub use crate::engine::lean::text::{hex, num, zeros};
