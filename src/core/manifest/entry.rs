//! Manifest entry bodies: `files` (the writer's view of the state before its
//! write) and `update` (the write, as a merge patch over `files`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::core::error::{Error, Result};

/// Where a logical key's current content lives: the uuid of `<key>@<uuid>`
/// or, in a versioned bucket, the S3 version id of `<key>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub version: String,
    /// Always `""` in protocol v1; kept for the JS client's sake.
    #[serde(default)]
    pub replication: String,
}

impl FileRef {
    pub fn new(version: impl Into<String>) -> FileRef {
        FileRef {
            version: version.into(),
            replication: String::new(),
        }
    }
}

/// url → where its content is.
pub type Files = BTreeMap<String, FileRef>;

/// A parsed entry. `update` is kept as JSON: it is a merge patch (`null`
/// deletes), replayed with [`crate::core::merge_patch::merge`].
#[derive(Clone, Debug, PartialEq)]
pub struct EntryBody {
    pub files: Value,
    pub update: Value,
}

impl EntryBody {
    /// An entry for a write of `changes` (url → `Some(version)`, or `None`
    /// for a delete) over the state `before`.
    pub fn new(before: &Files, changes: &[(String, Option<String>)]) -> EntryBody {
        let files = serde_json::to_value(before).expect("files serialize");
        let mut patch = Map::new();
        for (url, version) in changes {
            let v = match version {
                Some(v) => serde_json::to_value(FileRef::new(v.clone())).expect("ref serializes"),
                None => Value::Null,
            };
            patch.insert(url.clone(), v);
        }
        let mut update = Map::new();
        update.insert("files".into(), Value::Object(patch));
        EntryBody {
            files,
            update: Value::Object(update),
        }
    }

    /// Reads an entry, ignoring unknown fields (forward compatibility).
    pub fn parse(bytes: &[u8]) -> Result<EntryBody> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::bad_response(format!("manifest entry is not JSON: {e}")))?;
        let Value::Object(mut o) = v else {
            return Err(Error::bad_response("manifest entry is not an object"));
        };
        let files = o.remove("files").unwrap_or(Value::Object(Map::new()));
        let update = o.remove("update").unwrap_or(Value::Object(Map::new()));
        if !files.is_object() {
            return Err(Error::bad_response(
                "manifest entry's files is not an object",
            ));
        }
        Ok(EntryBody { files, update })
    }

    /// `JSON.stringify(entry, null, 2)`, as the JS client writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut o = Map::new();
        o.insert("files".into(), self.files.clone());
        o.insert("update".into(), self.update.clone());
        serde_json::to_vec_pretty(&Value::Object(o)).expect("entry serializes")
    }
}

/// The state a JSON manifest value describes: its `files` member as url →
/// ref, skipping members that are not refs (deleted, or foreign).
pub fn files_of(state: &Value) -> Files {
    let mut out = Files::new();
    if let Some(Value::Object(files)) = state.get("files") {
        for (url, v) in files {
            if let Ok(r) = serde_json::from_value::<FileRef>(v.clone()) {
                out.insert(url.clone(), r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_the_js_client_writes() {
        let mut before = Files::new();
        before.insert("b/a".into(), FileRef::new("v1"));
        let e = EntryBody::new(
            &before,
            &[("b/a".into(), Some("v2".into())), ("b/x".into(), None)],
        );
        let text = String::from_utf8(e.to_bytes()).unwrap();
        // Members come out sorted (the JS client writes `version` first);
        // readers compare parsed JSON, so only structure and layout matter.
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "files": {"b/a": {"version": "v1", "replication": ""}},
                "update": {"files": {"b/a": {"version": "v2", "replication": ""}, "b/x": null}}
            })
        );
        assert!(
            text.starts_with("{\n  \"files\": {\n    \"b/a\": {\n      \""),
            "{text}"
        );
        assert_eq!(EntryBody::parse(text.as_bytes()).unwrap(), e);
        let empty = EntryBody::new(&Files::new(), &[]);
        assert!(String::from_utf8(empty.to_bytes())
            .unwrap()
            .contains("\"files\": {}"));
    }

    #[test]
    fn reading_ignores_unknown_fields_and_refuses_garbage() {
        let e = EntryBody::parse(br#"{"files":{},"update":{"files":{}},"future":1}"#).unwrap();
        assert_eq!(e.files, serde_json::json!({}));
        assert!(EntryBody::parse(b"[1]").is_err());
        assert!(EntryBody::parse(b"{\"files\":3}").is_err());
        assert!(EntryBody::parse(b"nope").is_err());
    }
}
