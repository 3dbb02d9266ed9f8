//! JSON for the manifest: a strict RFC 8259 reader and a writer that
//! matches `JSON.stringify(value, null, 2)`.
//!
//! The manifest only needs objects and strings, and must carry anything
//! else through unharmed. So numbers stay the text they were read as (no
//! float parsing or formatting, which would cost wasm size and could change
//! digits), and objects keep their members in order, as JavaScript does.
//! Values users store never pass through here: the edges hand them over as
//! JSON text.

use crate::prelude::*;

use super::error::{Error, Result};

/// A parsed JSON document: log entries, claims, stored state, messages
/// between tabs. (Values themselves stay text, `db::JsonText`: the engine
/// never parses them.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// The number's text, as read (already checked to be a JSON number).
    Number(String),
    String(String),
    Array(Vec<JsonValue>),
    /// Members in order; a repeated name keeps its last value (as
    /// `JSON.parse` does).
    Object(Vec<(String, JsonValue)>),
}

impl JsonValue {
    pub fn object() -> JsonValue {
        JsonValue::Object(Vec::new())
    }

    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&JsonValue> {
        match self {
            JsonValue::Object(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, JsonValue)]> {
        match self {
            JsonValue::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Sets member `name` (replacing it in place, or appending).
    pub fn set(&mut self, name: &str, value: JsonValue) {
        if let JsonValue::Object(members) = self {
            match members.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = value,
                None => members.push((name.to_string(), value)),
            }
        }
    }

    pub fn remove(&mut self, name: &str) {
        if let JsonValue::Object(members) = self {
            members.retain(|(k, _)| k != name);
        }
    }

    /// `JSON.stringify(self, null, 2)`.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let indent = |out: &mut String, d: usize| {
            out.push('\n');
            for _ in 0..d {
                out.push_str("  ");
            }
        };
        match self {
            JsonValue::Null => out.push_str("null"),
            JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonValue::Number(n) => out.push_str(n),
            JsonValue::String(s) => quote_into(s, out),
            JsonValue::Array(items) if items.is_empty() => out.push_str("[]"),
            JsonValue::Object(members) if members.is_empty() => out.push_str("{}"),
            JsonValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                indent(out, depth);
                out.push(']');
            }
            JsonValue::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    quote_into(k, out);
                    out.push_str(": ");
                    v.write(out, depth + 1);
                }
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

/// A string as a JSON literal, escaped as `JSON.stringify` escapes it.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(s, &mut out);
    out
}

fn quote_into(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

fn bad(what: &str) -> Error {
    Error::bad_response(cat!("invalid JSON: ", what))
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonValue> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deep"));
        }
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut members: Vec<(String, JsonValue)> = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(JsonValue::Object(members));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err(bad("expected ':'"));
                    }
                    let v = self.value(depth + 1)?;
                    match members.iter_mut().find(|(name, _)| *name == k) {
                        Some(slot) => slot.1 = v,
                        None => members.push((k, v)),
                    }
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"}") {
                        return Ok(JsonValue::Object(members));
                    }
                    return Err(bad("expected ',' or '}'"));
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(JsonValue::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"]") {
                        return Ok(JsonValue::Array(items));
                    }
                    return Err(bad("expected ',' or ']'"));
                }
            }
            Some(b'"') => Ok(JsonValue::String(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(JsonValue::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(JsonValue::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(bad("expected a value")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<JsonValue> {
        let start = self.i;
        self.eat(b"-");
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(bad("bad number")),
        }
        if self.eat(b".") && self.digits() == 0 {
            return Err(bad("bad fraction"));
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(bad("bad exponent"));
            }
        }
        let text = core::str::from_utf8(&self.b[start..self.i]).map_err(|_| bad("bad number"))?;
        Ok(JsonValue::Number(text.to_string()))
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| bad("short \\u escape"))?;
        self.i += 4;
        let h = core::str::from_utf8(h).map_err(|_| bad("bad \\u escape"))?;
        crate::engine::lean::scan::number(h, 16)
            .map(|n| n as u32)
            .ok_or_else(|| bad("bad \\u escape"))
    }

    fn string(&mut self) -> Result<String> {
        if !self.eat(b"\"") {
            return Err(bad("expected a string"));
        }
        let mut out = Vec::new();
        loop {
            let c = *self
                .b
                .get(self.i)
                .ok_or_else(|| bad("unterminated string"))?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|_| bad("string is not UTF-8")),
                b'\\' => {
                    let e = *self.b.get(self.i).ok_or_else(|| bad("bad escape"))?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return Err(bad("lone surrogate"));
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(bad("lone surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| bad("lone surrogate"))?
                        }
                        _ => return Err(bad("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(bad("control character in string")),
                c => out.push(c),
            }
        }
    }
}

/// Parses a whole document.
pub fn parse(bytes: &[u8]) -> Result<JsonValue> {
    let mut p = Parser { b: bytes, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(bad("content after the value"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> JsonValue {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn writes_what_json_stringify_writes() {
        // JSON.stringify(JSON.parse(x), null, 2), as node prints it.
        let doc = r#"{"files":{},"update":{"files":{"b/a":{"version":"v","replication":""},"b/x":null}},"n":[1,-2.5e+3,true,false,[],{}],"s":"q\"\\\n\t\u0001é𝄞"}"#;
        assert_eq!(
            j(doc).to_pretty(),
            "{\n  \"files\": {},\n  \"update\": {\n    \"files\": {\n      \"b/a\": {\n        \"version\": \"v\",\n        \"replication\": \"\"\n      },\n      \"b/x\": null\n    }\n  },\n  \"n\": [\n    1,\n    -2.5e+3,\n    true,\n    false,\n    [],\n    {}\n  ],\n  \"s\": \"q\\\"\\\\\\n\\t\\u0001é𝄞\"\n}"
        );
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("2bnk6jbej_51e_vv"), "\"2bnk6jbej_51e_vv\"");
    }

    #[test]
    fn reads_what_others_write_and_round_trips() {
        for doc in [
            "null",
            "true",
            "0",
            "-0.5",
            "1e10",
            "\"\"",
            "[]",
            "{}",
            r#"{"a":[1,{"b":null}],"c":"\ud834\udd1e\/"}"#,
            "  {\n \"k\" : \"v\" }  ",
        ] {
            let v = j(doc);
            assert_eq!(parse(v.to_pretty().as_bytes()).unwrap(), v, "{doc}");
        }
        assert_eq!(j(r#""\ud834\udd1e""#), JsonValue::String("𝄞".into()));
        assert_eq!(
            j(r#"{"a":1,"a":2}"#),
            JsonValue::Object(vec![("a".into(), JsonValue::Number("2".into()))])
        );
        let v = j(r#"{"x":{"y":"z"}}"#);
        assert_eq!(
            v.get("x")
                .and_then(|x| x.get("y"))
                .and_then(JsonValue::as_str),
            Some("z")
        );
    }

    #[test]
    fn refuses_what_is_not_json() {
        for doc in [
            "",
            "{",
            "[1,]",
            "{\"a\":}",
            "{a:1}",
            "01",
            "1.",
            "-",
            "1e",
            "+1",
            "nul",
            "\"\\x\"",
            "\"\\ud834\"",
            "\"\\udd1e\"",
            "\"a\nb\"",
            "[1] 2",
            "'a'",
            "NaN",
        ] {
            assert!(parse(doc.as_bytes()).is_err(), "{doc:?}");
        }
        assert!(parse(&[b'"', 0xff, b'"']).is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
