//! What std's prelude gives every module, from `alloc`, so that the crate
//! builds the same with and without std (`use crate::prelude::*;`).

pub use alloc::boxed::Box;
pub use alloc::format;
pub use alloc::string::{String, ToString};
pub use alloc::vec;
pub use alloc::vec::Vec;
