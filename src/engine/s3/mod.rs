//! S3 as the core sees it: requests built and signed from a config, and
//! responses turned into typed results or semantic errors. IO is the
//! caller's: build a request, send it however, hand the response back.

mod config;
pub mod in_memory;
mod request;
mod response;

pub use config::{
    validate_bucket, validate_key, validate_object_key, Addressing, Endpoint, S3Config,
    MAX_KEY_BYTES,
};
pub(crate) use request::base64;
pub use request::{CorsRule, GetOptions, ListAll, ListParams, PutMode, PutOptions, S3};
pub use response::{
    error_from_response, parse_delete, parse_get, parse_head, parse_list, parse_ok, parse_put,
    DeleteResult, GetResult, ListEntry, ListPage, Object, ObjectMeta,
};

#[cfg(test)]
mod tests;
