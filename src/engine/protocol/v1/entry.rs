//! Manifest entry bodies: `files` (the writer's view of the state before its
//! write) and `update` (the write, as a merge patch over `files`).

use crate::prelude::*;

use crate::engine::error::{Error, Result};
use crate::engine::json::{self, JsonValue};
use crate::engine::protocol::{files_json, FileRef, Files};

/// A parsed entry. `update` is kept as JSON: it is a merge patch (`null`
/// deletes), replayed with [`crate::engine::merge_patch::merge`].
#[derive(Clone, Debug, PartialEq)]
pub struct EntryBody {
    pub files: JsonValue,
    pub update: JsonValue,
}

impl EntryBody {
    /// An entry for a write of `changes` (url → `Some(version)`, or `None`
    /// for a delete) over the state `before`.
    pub fn new(before: &Files, changes: &[(String, Option<String>)]) -> EntryBody {
        let mut patch = Vec::new();
        for (url, version) in changes {
            let v = match version {
                Some(v) => FileRef::new(v.clone()).to_json(),
                None => JsonValue::Null,
            };
            patch.push((url.clone(), v));
        }
        EntryBody {
            files: files_json(before),
            update: JsonValue::Object(vec![("files".into(), JsonValue::Object(patch))]),
        }
    }

    /// Reads an entry, ignoring unknown fields (forward compatibility).
    pub fn parse(bytes: &[u8]) -> Result<EntryBody> {
        let v = json::parse(bytes)?;
        if !matches!(v, JsonValue::Object(_)) {
            return Err(Error::bad_response("manifest entry is not an object"));
        }
        let files = v.get("files").cloned().unwrap_or_else(JsonValue::object);
        let update = v.get("update").cloned().unwrap_or_else(JsonValue::object);
        if !matches!(files, JsonValue::Object(_)) {
            return Err(Error::bad_response(
                "manifest entry's files is not an object",
            ));
        }
        Ok(EntryBody { files, update })
    }

    /// `JSON.stringify(entry, null, 2)`, as the JS client writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        JsonValue::Object(vec![
            ("files".into(), self.files.clone()),
            ("update".into(), self.update.clone()),
        ])
        .to_pretty()
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::files_of;

    #[test]
    fn writes_what_the_js_client_writes() {
        let mut before = Files::new();
        before.insert("b/a".into(), FileRef::new("v1"));
        let e = EntryBody::new(
            &before,
            &[("b/a".into(), Some("v2".into())), ("b/x".into(), None)],
        );
        let text = String::from_utf8(e.to_bytes()).unwrap();
        // Byte for byte what JSON.stringify(entry, null, 2) gives.
        assert_eq!(
            text,
            "{\n  \"files\": {\n    \"b/a\": {\n      \"version\": \"v1\",\n      \"replication\": \"\"\n    }\n  },\n  \"update\": {\n    \"files\": {\n      \"b/a\": {\n        \"version\": \"v2\",\n        \"replication\": \"\"\n      },\n      \"b/x\": null\n    }\n  }\n}"
        );
        assert_eq!(EntryBody::parse(text.as_bytes()).unwrap(), e);
        let empty = EntryBody::new(&Files::new(), &[]);
        assert!(String::from_utf8(empty.to_bytes())
            .unwrap()
            .contains("\"files\": {}"));
    }

    #[test]
    fn reading_ignores_unknown_fields_and_refuses_garbage() {
        let e =
            EntryBody::parse(br#"{"files":{},"update":{"files":{}},"future":[1.5e3]}"#).unwrap();
        assert_eq!(e.files, JsonValue::object());
        assert!(EntryBody::parse(b"[1]").is_err());
        assert!(EntryBody::parse(b"{\"files\":3}").is_err());
        assert!(EntryBody::parse(b"nope").is_err());
        let r = files_of(
            &json::parse(br#"{"files":{"b/a":{"version":"v","extra":1},"b/z":7}}"#).unwrap(),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.get("b/a"), Some(&FileRef::new("v")));
    }
}
