//! `mps3-proxy`: a validating auth proxy in front of an mps3 database's
//! bucket, so that people who must not hold the bucket's keys can share
//! it. A caller shows an OpenID Connect ID token once and gets short-lived
//! SigV4 credentials derived from it (`session`); each request it signs
//! with them is verified (`signature`), checked against the rules file
//! (`rules`) and protocol v2's objects (`guard`, with the engine's own
//! entry parser), and sent on signed with the proxy's keys (`server`).
//! See README, "Public apps".

#![forbid(unsafe_code)]
#![warn(rust_2018_idioms)]

pub mod compact;
pub mod config;
pub mod dev_idp;
pub mod guard;
pub mod http;
pub mod native_io;
pub mod oidc;
pub mod rules;
pub mod s3error;
pub mod server;
pub mod session;
pub mod signature;
