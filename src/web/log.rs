//! Structured log events for the application: `{ type, label, ... }` to
//! nowhere, the console, or the function given as `config.log`.

use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;

use super::convert::{object, set};

#[wasm_bindgen(module = "/src/web/edges.js")]
extern "C" {
    #[wasm_bindgen(js_name = mps3Log)]
    fn log(event: &Object);
}

/// Where structured log events go.
#[derive(Clone)]
pub enum Logger {
    Off,
    Console,
    Function(Function),
}

impl Logger {
    pub fn emit(&self, event: &Object) {
        match self {
            Logger::Off => {}
            Logger::Console => log(event),
            Logger::Function(f) => {
                let _ = f.call1(&JsValue::NULL, event);
            }
        }
    }

    pub fn enabled(&self) -> bool {
        !matches!(self, Logger::Off)
    }
}

/// Builds a log event `{ type, ...fields }`.
pub fn event(kind: &str, fields: &[(&str, JsValue)]) -> Object {
    let o = object(&[("type", kind.into())]);
    for (name, value) in fields {
        set(&o, name, value);
    }
    o
}
