//! The keys a manifest holds and where each one's content is: what both
//! protocols read a log into (v1 resolves its entries' `files` maps to
//! one; v2 applies its entries to one), in the JSON form of v1's entries,
//! which the store keeps too.

use crate::prelude::*;

use crate::engine::json::JsonValue;
use crate::engine::lean::vec_map::VecMap;

/// Where a logical key's current content lives: the uuid of `<key>@<uuid>`
/// or, in a versioned bucket, the S3 version id of `<key>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub version: String,
    /// Always `""` in protocol v1; kept for the JS client's sake.
    pub replication: String,
}

impl FileRef {
    pub fn new(version: impl Into<String>) -> FileRef {
        FileRef {
            version: version.into(),
            replication: String::new(),
        }
    }

    /// `{"version": …, "replication": …}`, members in the JS client's order.
    pub fn to_json(&self) -> JsonValue {
        JsonValue::Object(vec![
            ("version".into(), JsonValue::String(self.version.clone())),
            (
                "replication".into(),
                JsonValue::String(self.replication.clone()),
            ),
        ])
    }

    /// A ref from JSON; `None` unless `version` is a string.
    pub fn from_json(v: &JsonValue) -> Option<FileRef> {
        Some(FileRef {
            version: v.get("version")?.as_str()?.to_string(),
            replication: v
                .get("replication")
                .and_then(JsonValue::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }
}

/// url → where its content is.
pub type Files = VecMap<String, FileRef>;

/// `files` as the manifest writes it: url → `{version, replication}`.
pub fn files_json(files: &Files) -> JsonValue {
    let mut out = Vec::new();
    for (url, r) in files.iter() {
        out.push((url.clone(), r.to_json()));
    }
    JsonValue::Object(out)
}

/// The state a JSON manifest value describes: its `files` member as url →
/// ref, skipping members that are not refs (deleted, or foreign).
pub fn files_of(state: &JsonValue) -> Files {
    let mut out = Files::new();
    if let Some(JsonValue::Object(files)) = state.get("files") {
        for (url, v) in files {
            if let Some(r) = FileRef::from_json(v) {
                out.insert(url.clone(), r);
            }
        }
    }
    out
}
