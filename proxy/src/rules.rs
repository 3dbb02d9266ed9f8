//! Who may do what to which key: the rules file's manifests and their key
//! rules, and the one decision function every check goes through, so
//! that a richer policy language could replace its body alone.
//!
//! Keys are matched by path templates, segment by segment: a literal, or
//! `{sub}` (the caller's subject), `{any}` (any one segment), `**` (the
//! rest, one segment or more). A key no rule allows is refused, and the
//! refusal names it.

use serde::Deserialize;

/// A verified caller: from the proxy's derived credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub roles: Vec<String>,
    /// Every writer id of this caller's log entries starts with it.
    pub writer_prefix: String,
}

/// What a caller asks to do to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Set,
    Delete,
}

/// What is known of a value being set: its size and type.
#[derive(Clone, Debug, Default)]
pub struct Value<'a> {
    pub bytes: usize,
    pub content_type: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A rule names the key but refuses this (a role, a size, a type).
    Deny(String),
    /// No rule names the key for this action.
    NoRule(String),
}

/// A path template (see the module's doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(Vec<Segment>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Sub,
    Any,
    Rest,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let parts: Vec<&str> = text.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "{sub}" => Segment::Sub,
                "{any}" => Segment::Any,
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(format!("\"{text}\": `**` may only end a template")),
                "" => return Err(format!("\"{text}\": empty segment")),
                p if p.contains(['{', '}', '*']) => {
                    return Err(format!(
                        "\"{text}\": `{p}` is not a segment ({{sub}}, {{any}}, ** or a literal)"
                    ))
                }
                p => Segment::Literal(p.to_string()),
            });
        }
        Ok(Template(segments))
    }

    /// Whether `key` matches with `{sub}` as `sub`.
    pub fn matches(&self, key: &str, sub: &str) -> bool {
        let parts: Vec<&str> = key.split('/').collect();
        let mut i = 0;
        for seg in &self.0 {
            match seg {
                Segment::Rest => {
                    return i < parts.len() && parts[i..].iter().all(|p| !p.is_empty())
                }
                _ if i >= parts.len() => return false,
                Segment::Literal(l) if parts[i] == l => {}
                Segment::Sub if !sub.is_empty() && parts[i] == sub => {}
                Segment::Any if !parts[i].is_empty() => {}
                _ => return false,
            }
            i += 1;
        }
        i == parts.len()
    }

    /// Whether `key` has this template's shape, whoever's `{sub}` it is.
    pub fn matches_any_caller(&self, key: &str) -> bool {
        let parts: Vec<&str> = key.split('/').collect();
        let sub = self
            .0
            .iter()
            .position(|s| *s == Segment::Sub)
            .and_then(|i| parts.get(i).copied())
            .unwrap_or("");
        self.matches(key, sub)
    }

    /// The literal segments before the first placeholder, each followed
    /// by `/` (`users/` of `users/{sub}/m.json`); the whole key when it has
    /// no placeholder.
    pub fn literal_prefix(&self) -> String {
        let mut out = String::new();
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Literal(l) => {
                    out.push_str(l);
                    if i + 1 < self.0.len() {
                        out.push('/');
                    }
                }
                _ => break,
            }
        }
        out
    }

    /// The key itself, when it has no placeholder.
    pub fn literal(&self) -> Option<String> {
        let all = self.0.iter().all(|s| matches!(s, Segment::Literal(_)));
        all.then(|| self.literal_prefix())
    }

    /// Whether it names `{sub}`: one per caller.
    pub fn per_caller(&self) -> bool {
        self.0.contains(&Segment::Sub)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Template::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Who may read a manifest: all of it (inline values travel in its
/// entries and checkpoints, so reads cannot be finer than a manifest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// Anyone signed in.
    Authenticated,
    /// The caller whose subject is the manifest key's `{sub}`.
    Owner,
    /// Callers with this role.
    Role(String),
}

impl<'de> Deserialize<'de> for Read {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "authenticated" => Ok(Read::Authenticated),
            "owner" => Ok(Read::Owner),
            t => match t.strip_prefix("role:") {
                Some(role) if !role.is_empty() => Ok(Read::Role(role.into())),
                _ => Err(serde::de::Error::custom(format!(
                    "read = \"{t}\": use \"authenticated\", \"owner\" or \"role:<name>\""
                ))),
            },
        }
    }
}

/// One key rule of a manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRule {
    pub keys: Template,
    pub allow: Vec<AllowWord>,
    /// Callers need one of these roles (none: anyone who may read).
    #[serde(default)]
    pub roles: Vec<String>,
    /// The largest value it may set (inline or content object).
    pub max_value_bytes: Option<usize>,
    /// Content types a binary value may have (`image/*` matches any
    /// image); none: JSON values only.
    #[serde(default)]
    pub content_types: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllowWord {
    Set,
    Delete,
}

/// A manifest the proxy serves, with who reads it and its key rules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub key: Template,
    pub read: Read,
    #[serde(default)]
    pub rules: Vec<KeyRule>,
    /// Log entries one caller may create per minute in this manifest.
    #[serde(default = "default_writes_per_minute")]
    pub writes_per_minute: u32,
}

fn default_writes_per_minute() -> u32 {
    120
}

impl Manifest {
    /// Whether `p` may read the manifest `key` (an instance of this
    /// manifest's template).
    pub fn readable(&self, p: &Principal, key: &str) -> bool {
        match &self.read {
            Read::Authenticated => true,
            Read::Owner => self.key.per_caller() && self.key.matches(key, &p.sub),
            Read::Role(r) => p.roles.contains(r),
        }
    }
}

/// The decision: may `p` do `action` to `key` (of the proxy's bucket) in
/// the manifest `m`, setting `value`? Any rule that allows it allows it.
pub fn decide(
    p: &Principal,
    m: &Manifest,
    action: Action,
    key: &str,
    value: &Value<'_>,
) -> Decision {
    let word = match action {
        Action::Set => AllowWord::Set,
        Action::Delete => AllowWord::Delete,
    };
    let mut why = None;
    for rule in &m.rules {
        if !rule.allow.contains(&word) || !rule.keys.matches(key, &p.sub) {
            continue;
        }
        if !rule.roles.is_empty() && !rule.roles.iter().any(|r| p.roles.contains(r)) {
            why = Some(format!(
                "key \"{key}\" needs one of the roles {:?}",
                rule.roles
            ));
            continue;
        }
        if action == Action::Set {
            if let Some(max) = rule.max_value_bytes.filter(|&max| value.bytes > max) {
                why = Some(format!(
                    "the value of \"{key}\" is {} bytes; at most {max} are allowed",
                    value.bytes
                ));
                continue;
            }
            if let Some(ct) = value.content_type {
                if !rule
                    .content_types
                    .iter()
                    .any(|allowed| type_matches(allowed, ct))
                {
                    why = Some(format!("key \"{key}\" may not hold a value of type {ct}"));
                    continue;
                }
            }
        }
        return Decision::Allow;
    }
    let verb = match action {
        Action::Set => "set",
        Action::Delete => "delete",
    };
    match why {
        Some(why) => Decision::Deny(why),
        None => Decision::NoRule(format!("no rule lets you {verb} key \"{key}\"")),
    }
}

fn type_matches(allowed: &str, ct: &str) -> bool {
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match allowed.strip_suffix("/*") {
        Some(major) => ct.split('/').next() == Some(major) && ct.contains('/'),
        None => ct == allowed.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal {
            sub: "alice".into(),
            roles: vec![],
            writer_prefix: "p1".into(),
        }
    }

    fn manifest(toml_rules: &str) -> Manifest {
        toml::from_str(&format!(
            "key = \"notes/manifest.json\"\nread = \"authenticated\"\n{toml_rules}"
        ))
        .unwrap()
    }

    #[test]
    fn templates_match_segment_by_segment() {
        let t = Template::parse("users/{sub}/**").unwrap();
        assert!(t.matches("users/alice/a", "alice"));
        assert!(t.matches("users/alice/a/b", "alice"));
        assert!(!t.matches("users/alice", "alice"), "** needs a segment");
        assert!(!t.matches("users/bob/a", "alice"));
        assert!(!t.matches("users/alice/", "alice"), "an empty segment");
        assert!(!t.matches("users/alicex/a", "alice"));
        let likes = Template::parse("likes/{any}").unwrap();
        assert!(likes.matches("likes/n1", "x"));
        assert!(!likes.matches("likes/n1/extra", "x"));
        assert!(!likes.matches("likes/", "x"));
        assert!(Template::parse("a/**/b").is_err());
        assert!(Template::parse("a/x*").is_err());
        assert!(Template::parse("a//b").is_err());
        // An empty subject matches no `{sub}`.
        assert!(!Template::parse("u/{sub}").unwrap().matches("u/", ""));
    }

    #[test]
    fn a_key_no_rule_allows_is_refused_by_name() {
        let m = manifest(
            r#"rules = [
              { keys = "notes/{sub}/**", allow = ["set", "delete"], max_value_bytes = 10 },
              { keys = "likes/{any}", allow = ["set"] },
              { keys = "config/**", allow = ["set"], roles = ["admin"] },
              { keys = "files/{sub}/**", allow = ["set"], content_types = ["image/*"] },
            ]"#,
        );
        let p = alice();
        let v = Value::default();
        assert_eq!(
            decide(&p, &m, Action::Set, "notes/alice/1", &v),
            Decision::Allow
        );
        assert_eq!(
            decide(&p, &m, Action::Delete, "notes/alice/1", &v),
            Decision::Allow
        );
        assert_eq!(
            decide(&p, &m, Action::Set, "notes/bob/1", &v),
            Decision::NoRule("no rule lets you set key \"notes/bob/1\"".into())
        );
        assert_eq!(decide(&p, &m, Action::Set, "likes/n1", &v), Decision::Allow);
        assert!(matches!(
            decide(&p, &m, Action::Delete, "likes/n1", &v),
            Decision::NoRule(_)
        ));
        let big = Value {
            bytes: 11,
            content_type: None,
        };
        assert!(
            matches!(decide(&p, &m, Action::Set, "notes/alice/1", &big), Decision::Deny(w) if w.contains("11 bytes"))
        );
        assert!(
            matches!(decide(&p, &m, Action::Set, "config/x", &v), Decision::Deny(w) if w.contains("roles"))
        );
        let admin = Principal {
            roles: vec!["admin".into()],
            ..alice()
        };
        assert_eq!(
            decide(&admin, &m, Action::Set, "config/x", &v),
            Decision::Allow
        );
        let png = Value {
            bytes: 5,
            content_type: Some("image/png"),
        };
        let pdf = Value {
            bytes: 5,
            content_type: Some("application/pdf"),
        };
        assert_eq!(
            decide(&p, &m, Action::Set, "files/alice/a", &png),
            Decision::Allow
        );
        assert!(matches!(
            decide(&p, &m, Action::Set, "files/alice/a", &pdf),
            Decision::Deny(_)
        ));
        // A binary value where the rule allows JSON only.
        assert!(matches!(
            decide(&p, &m, Action::Set, "notes/alice/1", &png),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn reads_are_per_manifest() {
        let own: Manifest =
            toml::from_str("key = \"users/{sub}/private.json\"\nread = \"owner\"").unwrap();
        assert!(own.readable(&alice(), "users/alice/private.json"));
        assert!(!own.readable(&alice(), "users/bob/private.json"));
        let staff: Manifest = toml::from_str("key = \"m\"\nread = \"role:staff\"").unwrap();
        assert!(!staff.readable(&alice(), "m"));
        // A rule that claims finer read control is refused.
        let finer: Result<Manifest, _> = toml::from_str(
            "key = \"m\"\nread = \"authenticated\"\nrules = [{ keys = \"a\", allow = [\"set\"], read = \"owner\" }]",
        );
        assert!(finer.unwrap_err().to_string().contains("read"));
        let bad: Result<Manifest, _> = toml::from_str("key = \"m\"\nread = \"everyone\"");
        assert!(bad.is_err());
    }
}
