//! Scripted scenarios, each a test of one behaviour on a quiet world (or
//! one fault placed by request number), beside the random simulation.

use super::*;

mod ack;
mod atomic;
mod change;
mod claims;
mod crash;
mod encryption;
mod keys;
mod mistakes;
mod storage;
mod tabs;
pub(super) mod v2;
