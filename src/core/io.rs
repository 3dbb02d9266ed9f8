//! What the database engine needs from the world, and nothing more.
//!
//! The engine decides; an `Io` carries out: the browser's is `fetch`,
//! `Date.now()` and `setTimeout` (src/web), the simulation's a virtual
//! clock and an in-memory S3 with latencies and faults (tests). The engine
//! never reaches past this trait, so every schedule it can meet in a
//! browser can be replayed natively, deterministically.

use std::future::Future;

use crate::core::credentials::Credentials;
use crate::core::error::Result;
use crate::core::http::{HttpRequest, HttpResponse};
use crate::core::time::EpochMillis;

pub trait Io {
    /// Sends a request. Any HTTP answer is `Ok`; no answer is `Network`.
    fn send(&self, req: HttpRequest) -> impl Future<Output = Result<HttpResponse>>;
    /// The local clock (it may be skewed: the engine corrects it).
    fn now(&self) -> EpochMillis;
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;
    /// Fresh credentials from the application's provider (for temporary
    /// credentials that expire); `Ok(None)` when it has none, i.e. the
    /// configured credentials are all there is.
    fn refresh_credentials(&self) -> impl Future<Output = Result<Option<Credentials>>>;
    /// Events were queued (see `Db::take_events`): deliver them soon, after
    /// the engine's current step, never from inside it.
    fn events_ready(&self);
}
