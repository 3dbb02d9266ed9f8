//! A minimal XML reader for S3's response bodies.
//!
//! S3 answers with small, flat documents (`ListBucketResult`, `Error`,
//! `VersioningConfiguration`). This reads elements, text, the five named
//! entities, numeric character references and CDATA, skips the prolog,
//! comments, processing instructions and attributes, and strips namespace
//! prefixes. It is a few hundred bytes of wasm where a general XML crate
//! would be tens of kilobytes.

use crate::prelude::*;

use super::error::{Error, Result};
use crate::engine::lean::scan::number;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// First child element with this (local) name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

fn bad(what: &str) -> Error {
    Error::bad_response(cat!("malformed XML: ", what))
}

struct Reader<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_until(&mut self, end: &str) -> Result<&'a str> {
        let rest = self.rest();
        let i = crate::engine::lean::scan::find(rest, end).ok_or_else(|| bad(end))?;
        self.pos += i + end.len();
        Ok(&rest[..i])
    }

    /// Skips white space, `<?…?>`, `<!--…-->` and `<!DOCTYPE …>`.
    fn skip_misc(&mut self) -> Result<()> {
        loop {
            let trimmed = self.rest().trim_start();
            self.pos = self.s.len() - trimmed.len();
            if trimmed.starts_with("<?") {
                self.skip_until("?>")?;
            } else if trimmed.starts_with("<!--") {
                self.skip_until("-->")?;
            } else if trimmed.starts_with("<!DOCTYPE") {
                self.skip_until(">")?;
            } else {
                return Ok(());
            }
        }
    }

    fn element(&mut self, depth: usize) -> Result<Element> {
        if depth > 32 {
            return Err(bad("nested too deep"));
        }
        if !self.rest().starts_with('<') {
            return Err(bad("expected an element"));
        }
        self.pos += 1;
        let name_end = self
            .rest()
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .ok_or_else(|| bad("unterminated tag"))?;
        let qname = &self.rest()[..name_end];
        if qname.is_empty() {
            return Err(bad("empty tag name"));
        }
        // The local name: after the namespace prefix, if any.
        let name = match qname.bytes().rposition(|b| b == b':') {
            Some(i) => &qname[i + 1..],
            None => qname,
        }
        .to_string();
        self.pos += name_end;
        // Attributes: skip, honouring quotes (a quoted value may hold `>`).
        let mut quote: Option<char> = None;
        let mut self_closing = false;
        loop {
            let c = self
                .rest()
                .chars()
                .next()
                .ok_or_else(|| bad("unterminated tag"))?;
            self.pos += c.len_utf8();
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '/') if self.rest().starts_with('>') => {
                    self.pos += 1;
                    self_closing = true;
                    break;
                }
                (None, '>') => break,
                _ => {}
            }
        }
        let mut el = Element {
            name,
            children: Vec::new(),
            text: String::new(),
        };
        if self_closing {
            return Ok(el);
        }
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(bad("unclosed element"));
            }
            if let Some(after) = rest.strip_prefix("</") {
                let end = after.find('>').ok_or_else(|| bad("unterminated end tag"))?;
                if after[..end].trim() != qname {
                    return Err(bad("mismatched end tag"));
                }
                self.pos += 2 + end + 1;
                return Ok(el);
            } else if rest.starts_with("<![CDATA[") {
                self.pos += 9;
                let data = self.skip_until("]]>")?;
                el.text.push_str(data);
            } else if rest.starts_with("<!--") || rest.starts_with("<?") {
                self.skip_misc()?;
            } else if rest.starts_with('<') {
                el.children.push(self.element(depth + 1)?);
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                decode_text(&rest[..end], &mut el.text)?;
                self.pos += end;
            }
        }
    }
}

fn decode_text(raw: &str, out: &mut String) -> Result<()> {
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').ok_or_else(|| bad("unterminated entity"))?;
        let entity = &after[..end];
        let ch = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    number(hex, 16)
                } else if let Some(dec) = entity.strip_prefix('#') {
                    number(dec, 10)
                } else {
                    None
                };
                code.and_then(|c| u32::try_from(c).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| bad("unknown entity"))?
            }
        };
        out.push(ch);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// Parses a document and returns its root element.
pub fn parse(doc: &str) -> Result<Element> {
    let mut r = Reader { s: doc, pos: 0 };
    r.skip_misc()?;
    let root = r.element(0)?;
    r.skip_misc()?;
    if !r.rest().is_empty() {
        return Err(bad("content after the root element"));
    }
    Ok(root)
}

/// Escapes text for an element body (request documents we build).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_entities_and_cdata() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<s3:Root xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/" a='x>y'>
  <Key>&lt;![CDATA[...]]&gt; &amp;lt &#233;&#x9375;</Key>
  <Raw><![CDATA[foo<Contents>]]></Raw>
  <Empty/>
  <Empty2></Empty2>
  <Item><N>1</N></Item><Item><N>2</N></Item>
</s3:Root>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Root");
        assert_eq!(root.child_text("Key"), Some("<![CDATA[...]]> &lt é鍵"));
        assert_eq!(root.child_text("Raw"), Some("foo<Contents>"));
        assert_eq!(root.child_text("Empty"), Some(""));
        assert_eq!(root.child_text("Empty2"), Some(""));
        let ns: Vec<_> = root
            .children_named("Item")
            .map(|i| i.child_text("N").unwrap().to_string())
            .collect();
        assert_eq!(ns, ["1", "2"]);
        assert!(root.child("Missing").is_none());
    }

    #[test]
    fn rejects_malformed_documents() {
        for doc in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "<a>&bogus;</a>",
            "<a>&lt</a>",
            "<a></a><b></b>",
            "<a><![CDATA[x</a>",
        ] {
            let e = parse(doc).unwrap_err();
            assert_eq!(
                e.kind,
                crate::engine::error::ErrorKind::BadResponse,
                "{doc}"
            );
        }
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn escape_round_trips() {
        let text = "<![CDATA[...]]> & \"q\" 'a' foo<Contents>";
        let root = parse(&format!("<K>{}</K>", escape(text))).unwrap();
        assert_eq!(root.text, text);
    }
}
