//! RFC 7386 JSON Merge Patch: how a manifest entry's `update` applies.

use super::json::JsonValue;

/// Applies `patch` to `target` in place. An object patch merges member by
/// member (`null` removes a member); any other patch replaces the target.
/// Idempotent: applying the same patch twice equals applying it once, which
/// is why replaying the lag window is harmless.
pub fn merge(target: &mut JsonValue, patch: &JsonValue) {
    let JsonValue::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !matches!(target, JsonValue::Object(_)) {
        *target = JsonValue::object();
    }
    for (name, value) in members {
        if *value == JsonValue::Null {
            target.remove(name);
            continue;
        }
        let mut slot = target.get(name).cloned().unwrap_or(JsonValue::Null);
        merge(&mut slot, value);
        target.set(name, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::json::parse;

    fn j(s: &str) -> JsonValue {
        parse(s.as_bytes()).unwrap()
    }

    /// The examples of RFC 7386, appendix A.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (j(r#"{"a":"b"}"#), j(r#"{"a":"c"}"#), j(r#"{"a":"c"}"#)),
            (
                j(r#"{"a":"b"}"#),
                j(r#"{"b":"c"}"#),
                j(r#"{"a":"b","b":"c"}"#),
            ),
            (j(r#"{"a":"b"}"#), j(r#"{"a":null}"#), j(r#"{}"#)),
            (
                j(r#"{"a":"b","b":"c"}"#),
                j(r#"{"a":null}"#),
                j(r#"{"b":"c"}"#),
            ),
            (j(r#"{"a":["b"]}"#), j(r#"{"a":"c"}"#), j(r#"{"a":"c"}"#)),
            (j(r#"{"a":"c"}"#), j(r#"{"a":["b"]}"#), j(r#"{"a":["b"]}"#)),
            (
                j(r#"{"a":{"b":"c"}}"#),
                j(r#"{"a":{"b":"d","c":null}}"#),
                j(r#"{"a":{"b":"d"}}"#),
            ),
            (
                j(r#"{"a":[{"b":"c"}]}"#),
                j(r#"{"a":[1]}"#),
                j(r#"{"a":[1]}"#),
            ),
            (j(r#"["a", "b"]"#), j(r#"["c", "d"]"#), j(r#"["c", "d"]"#)),
            (j(r#"{"a":"b"}"#), j(r#"["c"]"#), j(r#"["c"]"#)),
            (j(r#"{"a":"foo"}"#), j(r#"null"#), j(r#"null"#)),
            (j(r#"{"a":"foo"}"#), j(r#""bar""#), j(r#""bar""#)),
            (
                j(r#"{"e":null}"#),
                j(r#"{"a":1}"#),
                j(r#"{"e":null,"a":1}"#),
            ),
            (
                j(r#"[1, 2]"#),
                j(r#"{"a":"b","c":null}"#),
                j(r#"{"a":"b"}"#),
            ),
            (
                j(r#"{}"#),
                j(r#"{"a":{"bb":{"ccc":null}}}"#),
                j(r#"{"a":{"bb":{}}}"#),
            ),
        ];
        for (target, patch, expected) in cases {
            let mut t = target.clone();
            merge(&mut t, &patch);
            assert_eq!(t, expected, "{target:?} + {patch:?}");
            merge(&mut t, &patch);
            assert_eq!(t, expected, "idempotent: {target:?} + {patch:?}");
        }
    }
}
