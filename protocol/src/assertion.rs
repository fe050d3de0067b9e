//! Assertions on a response, beyond the expected status codes.
//!
//! In the API they are JSON objects (`{"type": "json_path", "path":
//! "$.status", "equals": "ok"}`); in the dashboard form they are lines of a
//! small language, one per line:
//!
//! ```text
//! body contains <text>
//! body not contains <text>
//! body matches <regex>
//! json <path> exists
//! json <path> == <value>
//! header <name> exists
//! header <name> == <value>
//! header <name> contains <text>
//! ```
//!
//! JSON paths are `$` followed by `.name`, `[index]` or `["name"]` steps.
//! A value is compared with the JSON value found: a string as itself, any
//! other value in its JSON form (`true`, `42`, `null`); quotes around the
//! expected value are optional.

use serde::{Deserialize, Serialize};

pub const MAX_ASSERTIONS: usize = 20;
const MAX_TEXT: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assertion {
    BodyContains {
        value: String,
    },
    BodyNotContains {
        value: String,
    },
    BodyMatches {
        pattern: String,
    },
    JsonPath {
        path: String,
        /// Absent: the path must exist.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        equals: Option<String>,
    },
    Header {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        equals: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contains: Option<String>,
    },
}

/// How one assertion fared on one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionResult {
    /// The assertion as a form line, e.g. `json $.status == ok`.
    pub assertion: String,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

pub fn parse_json_path(path: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| {
        format!("{path:?} is not a JSON path ({why}); use e.g. $.status or $.items[0].name")
    };
    let mut rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| bad("it must start with $"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(bad("empty name after ."));
            }
            steps.push(Step::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").ok_or_else(|| bad("unterminated [\""))?;
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("unterminated ["))?;
            let i = r[..end]
                .trim()
                .parse::<usize>()
                .map_err(|_| bad("an index must be a number"))?;
            steps.push(Step::Index(i));
            rest = &r[end + 1..];
        } else {
            return Err(bad("unexpected text"));
        }
    }
    Ok(steps)
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

impl Assertion {
    /// Checks the assertion's own shape (paths, patterns, lengths).
    pub fn validate(&self) -> Result<(), String> {
        let long = |s: &str| s.len() > MAX_TEXT;
        match self {
            Assertion::BodyContains { value } | Assertion::BodyNotContains { value } => {
                if value.is_empty() || long(value) {
                    return Err(format!("body text must be 1 to {MAX_TEXT} bytes"));
                }
            }
            Assertion::BodyMatches { pattern } => {
                if long(pattern) {
                    return Err(format!("a pattern is at most {MAX_TEXT} bytes"));
                }
                regex_lite::Regex::new(pattern)
                    .map_err(|e| format!("invalid regular expression: {e}"))?;
            }
            Assertion::JsonPath { path, equals } => {
                parse_json_path(path)?;
                if equals.as_deref().is_some_and(long) {
                    return Err(format!("a value is at most {MAX_TEXT} bytes"));
                }
            }
            Assertion::Header {
                name,
                equals,
                contains,
            } => {
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(format!("{name:?} is not a header name"));
                }
                if equals.is_some() && contains.is_some() {
                    return Err("a header assertion takes == or contains, not both".into());
                }
                if equals.as_deref().or(contains.as_deref()).is_some_and(long) {
                    return Err(format!("a value is at most {MAX_TEXT} bytes"));
                }
            }
        }
        Ok(())
    }

    /// Parses one form line.
    pub fn parse_line(line: &str) -> Result<Assertion, String> {
        let line = line.trim();
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let a = match kind.to_ascii_lowercase().as_str() {
            "body" => {
                if let Some(v) = rest.strip_prefix("not contains ") {
                    Assertion::BodyNotContains { value: unquote(v) }
                } else if let Some(v) = rest.strip_prefix("contains ") {
                    Assertion::BodyContains { value: unquote(v) }
                } else if let Some(v) = rest.strip_prefix("matches ") {
                    Assertion::BodyMatches {
                        pattern: v.trim().to_string(),
                    }
                } else {
                    return Err(format!(
                        "{line:?}: use body contains, body not contains or body matches"
                    ));
                }
            }
            "json" => {
                let (path, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let tail = tail.trim();
                let equals = if tail == "exists" || tail.is_empty() {
                    None
                } else if let Some(v) = tail.strip_prefix("==") {
                    Some(unquote(v))
                } else {
                    return Err(format!(
                        "{line:?}: use json <path> exists or json <path> == <value>"
                    ));
                };
                Assertion::JsonPath {
                    path: path.to_string(),
                    equals,
                }
            }
            "header" => {
                let (name, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let tail = tail.trim();
                let (equals, contains) = if tail == "exists" || tail.is_empty() {
                    (None, None)
                } else if let Some(v) = tail.strip_prefix("==") {
                    (Some(unquote(v)), None)
                } else if let Some(v) = tail.strip_prefix("contains ") {
                    (None, Some(unquote(v)))
                } else {
                    return Err(format!(
                        "{line:?}: use header <name> exists, == <value> or contains <text>"
                    ));
                };
                Assertion::Header {
                    name: name.to_string(),
                    equals,
                    contains,
                }
            }
            _ => {
                return Err(format!(
                    "{line:?}: an assertion starts with body, json or header"
                ))
            }
        };
        a.validate().map_err(|e| format!("{line:?}: {e}"))?;
        Ok(a)
    }
}

impl std::fmt::Display for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Assertion::BodyContains { value } => write!(f, "body contains {value}"),
            Assertion::BodyNotContains { value } => write!(f, "body not contains {value}"),
            Assertion::BodyMatches { pattern } => write!(f, "body matches {pattern}"),
            Assertion::JsonPath { path, equals: None } => write!(f, "json {path} exists"),
            Assertion::JsonPath {
                path,
                equals: Some(v),
            } => write!(f, "json {path} == {v}"),
            Assertion::Header {
                name,
                equals: Some(v),
                ..
            } => write!(f, "header {name} == {v}"),
            Assertion::Header {
                name,
                contains: Some(v),
                ..
            } => write!(f, "header {name} contains {v}"),
            Assertion::Header { name, .. } => write!(f, "header {name} exists"),
        }
    }
}

/// Parses the form's assertion lines; errors name the line.
pub fn parse_lines(text: &str) -> Result<Vec<Assertion>, String> {
    let out: Vec<Assertion> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Assertion::parse_line)
        .collect::<Result<_, _>>()?;
    if out.len() > MAX_ASSERTIONS {
        return Err(format!("at most {MAX_ASSERTIONS} assertions"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_parse() {
        assert_eq!(
            parse_json_path("$.items[2][\"a b\"].id").unwrap(),
            vec![
                Step::Key("items".into()),
                Step::Index(2),
                Step::Key("a b".into()),
                Step::Key("id".into())
            ]
        );
        assert_eq!(parse_json_path("$").unwrap(), vec![]);
        for bad in ["status", "$.", "$[x]", "$[1", "$..a", "$ .a"] {
            assert!(parse_json_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_round_trip() {
        for line in [
            "body contains all good",
            "body not contains error",
            "body matches ^ok\\s+\\d+$",
            "json $.status == ok",
            "json $.items[0] exists",
            "header content-type contains json",
            "header x-env == prod",
            "header etag exists",
        ] {
            let a = Assertion::parse_line(line).unwrap();
            assert_eq!(a.to_string(), line);
        }
        assert_eq!(
            Assertion::parse_line(r#"json $.status == "ok""#).unwrap(),
            Assertion::JsonPath {
                path: "$.status".into(),
                equals: Some("ok".into())
            }
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for bad in [
            "body has x",
            "json status == ok",
            "body matches (unclosed",
            "xml //a",
            "header bad name! == 1",
        ] {
            let e = Assertion::parse_line(bad).unwrap_err();
            assert!(e.contains(bad.split_whitespace().next().unwrap()), "{e}");
        }
    }
}
