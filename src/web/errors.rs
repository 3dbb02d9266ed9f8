//! Errors as JavaScript sees them: instances of `MPS3Error`, a subclass of
//! `Error` with the stable `code` (and `status`, `s3Code` when S3
//! answered), so that `e instanceof MPS3Error` and `e instanceof Error`
//! both hold. The class is JavaScript's own (`extends Error` keeps the
//! stack trace); the package exports it (`index.js`).

use crate::prelude::*;

use wasm_bindgen::prelude::*;

use crate::engine::error::Error;

#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    type MPS3Error;

    #[wasm_bindgen(constructor)]
    fn new(message: &str, code: &str, status: Option<u16>, s3_code: Option<&str>) -> MPS3Error;

    #[wasm_bindgen(js_name = mps3ErrorClass)]
    fn mps3_error_class() -> JsValue;
}

/// The `MPS3Error` class, for the package entry to export.
#[wasm_bindgen(js_name = errorClass, skip_typescript)]
pub fn error_class() -> JsValue {
    mps3_error_class()
}

/// `e` as an `MPS3Error`: its sentence in `message`, its code in `code`
/// (`toString()` joins them).
pub fn to_js_error(e: &Error) -> JsValue {
    MPS3Error::new(
        &cat!(e.sentence()),
        e.kind.code(),
        e.status,
        e.s3_code.as_deref(),
    )
    .into()
}
