//! Evaluating a monitor's assertions on a response. Every assertion is
//! evaluated (not just up to the first failure) so the result shows them all.

use openseer_protocol::assertion::{parse_json_path, Step};
use openseer_protocol::{Assertion, AssertionResult};

use crate::http::Response;

pub fn evaluate(assertions: &[Assertion], resp: &Response) -> Vec<AssertionResult> {
    let mut json: Option<Result<serde_json::Value, String>> = None;
    assertions
        .iter()
        .map(|a| {
            let outcome = match a {
                Assertion::BodyContains { value } => {
                    check(contains(&resp.body, value.as_bytes()), || {
                        format!("{value:?} not found in the body")
                    })
                }
                Assertion::BodyNotContains { value } => {
                    check(!contains(&resp.body, value.as_bytes()), || {
                        format!("{value:?} found in the body")
                    })
                }
                Assertion::BodyMatches { pattern } => match regex_lite::Regex::new(pattern) {
                    Ok(re) => check(re.is_match(&String::from_utf8_lossy(&resp.body)), || {
                        format!("the body does not match {pattern}")
                    }),
                    Err(e) => Err(format!("invalid regular expression: {e}")),
                },
                Assertion::JsonPath { path, equals } => {
                    let doc = json.get_or_insert_with(|| {
                        serde_json::from_slice(&resp.body)
                            .map_err(|e| format!("the body is not JSON: {e}"))
                    });
                    match doc {
                        Err(e) => Err(e.clone()),
                        Ok(doc) => json_path(doc, path, equals.as_deref()),
                    }
                }
                Assertion::Header {
                    name,
                    equals,
                    contains: part,
                } => {
                    let value = resp
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.as_str());
                    match (value, equals, part) {
                        (None, _, _) => Err(format!("no {name} header")),
                        (Some(v), Some(want), _) => {
                            check(v == want, || format!("{name} is {v:?}, not {want:?}"))
                        }
                        (Some(v), None, Some(want)) => check(v.contains(want.as_str()), || {
                            format!("{name} is {v:?}, without {want:?}")
                        }),
                        (Some(_), None, None) => Ok(()),
                    }
                }
            };
            AssertionResult {
                assertion: a.to_string(),
                passed: outcome.is_ok(),
                detail: outcome.err(),
            }
        })
        .collect()
}

fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn json_path(doc: &serde_json::Value, path: &str, equals: Option<&str>) -> Result<(), String> {
    let steps = parse_json_path(path)?;
    let mut at = doc;
    for step in &steps {
        let next = match step {
            Step::Key(k) => at.get(k.as_str()),
            Step::Index(i) => at.get(*i),
        };
        at = next.ok_or_else(|| format!("{path} does not exist"))?;
    }
    let Some(want) = equals else {
        return Ok(());
    };
    let got = match at {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    check(got == want, || format!("{path} is {got:?}, not {want:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openseer_protocol::Timings;

    fn resp(body: &str, headers: &[(&str, &str)]) -> Response {
        Response {
            status: 200,
            location: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            body_bytes: body.len() as u64,
            decoded_bytes: None,
            cut: false,
            timings: Timings::default(),
            tls: None,
        }
    }

    fn passed(a: &str, r: &Response) -> bool {
        evaluate(&[Assertion::parse_line(a).unwrap()], r)[0].passed
    }

    #[test]
    fn body_assertions() {
        let r = resp("status: ok 200", &[]);
        assert!(passed("body contains ok", &r));
        assert!(!passed("body contains down", &r));
        assert!(passed("body not contains error", &r));
        assert!(passed(r"body matches ok\s+\d{3}$", &r));
        assert!(!passed(r"body matches ^\d", &r));
    }

    #[test]
    fn json_assertions() {
        let r = resp(r#"{"status":"ok","n":3,"items":[{"id":7}],"up":true}"#, &[]);
        assert!(passed(r#"json $.status == "ok""#, &r));
        assert!(passed("json $.n == 3", &r));
        assert!(passed("json $.up == true", &r));
        assert!(passed("json $.items[0].id == 7", &r));
        assert!(passed("json $.items[0] exists", &r));
        assert!(!passed("json $.items[1] exists", &r));
        assert!(!passed("json $.status == fine", &r));
        let not_json = resp("<html>", &[]);
        let out = evaluate(
            &[Assertion::parse_line("json $.a exists").unwrap()],
            &not_json,
        );
        assert!(out[0].detail.as_deref().unwrap().contains("not JSON"));
    }

    #[test]
    fn header_assertions() {
        let r = resp("", &[("content-type", "application/json; charset=utf-8")]);
        assert!(passed("header Content-Type contains json", &r));
        assert!(!passed("header content-type == text/html", &r));
        assert!(passed("header content-type exists", &r));
        assert!(!passed("header x-missing exists", &r));
    }
}
