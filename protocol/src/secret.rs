//! Secrets in monitors. Header values (an `Authorization` header, an API
//! key) and request bodies may carry credentials: the node keeps them
//! encrypted and never shows them back. Wherever a monitor is shown (the
//! edit form, the API, an export file) such a value reads [`HIDDEN`]; a
//! monitor sent back with [`HIDDEN`] in a place keeps what is stored there,
//! so a round trip through an editor or a file changes nothing.

use crate::monitor::{origin_of, CheckSpec};
use crate::{FieldError, Header, MonitorInput};

pub use crate::monitor::HIDDEN;

/// Headers whose values are shown as they are: they describe the request's
/// format, never carry credentials. Every other header's value is hidden.
const PUBLIC_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "content-type",
    "pragma",
    "user-agent",
];

pub fn header_is_secret(name: &str) -> bool {
    !PUBLIC_HEADERS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name.trim()))
}

impl MonitorInput {
    /// The monitor as a user may see it: secret header values and a
    /// non-empty body replaced by [`HIDDEN`].
    pub fn redacted(mut self) -> MonitorInput {
        for h in &mut self.headers {
            if header_is_secret(&h.name) && !h.value.is_empty() {
                h.value = HIDDEN.to_string();
            }
        }
        if self.body.as_deref().is_some_and(|b| !b.is_empty()) {
            self.body = Some(HIDDEN.to_string());
        }
        self
    }

    /// Puts the stored values back where this input says [`HIDDEN`]: a
    /// header by its name (case-insensitive), the body as a whole. A
    /// placeholder with nothing stored behind it (a new monitor, a header
    /// that was not there) is an error naming the field, and so is one
    /// whose URL now points at another origin: stored secrets go only where
    /// they were meant to go, so whoever moves them elsewhere types them.
    pub fn restore_hidden(&mut self, stored: Stored<'_>) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.uses_stored_secrets() {
            if let (Ok(from), Ok(to)) = (origin_of(stored.url), origin_of(self.url.trim())) {
                if from != to {
                    errors.push(FieldError::new(
                        "url",
                        format!(
                            "the stored {HIDDEN} values are sent only to {from}: enter them again to send them to {to}"
                        ),
                    ));
                    return Err(errors);
                }
            }
        }
        for h in &mut self.headers {
            if h.value != HIDDEN {
                continue;
            }
            match stored.headers
                .iter()
                .find(|s| s.name.trim().eq_ignore_ascii_case(h.name.trim()))
            {
                Some(s) => h.value = s.value.clone(),
                None => errors.push(FieldError::new(
                    "headers",
                    format!(
                        "the value of {} is {HIDDEN}, and no value is stored for it: enter the value",
                        h.name.trim()
                    ),
                )),
            }
        }
        if self.body.as_deref() == Some(HIDDEN) {
            match stored.body {
                Some(b) if !b.is_empty() => self.body = Some(b.to_string()),
                _ => errors.push(FieldError::new(
                    "body",
                    format!("the body is {HIDDEN}, and no body is stored: enter the body"),
                )),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// What a monitor has stored, for [`MonitorInput::restore_hidden`].
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub url: &'a str,
    pub headers: &'a [Header],
    pub body: Option<&'a str>,
}

impl CheckSpec {
    pub fn stored(&self) -> Stored<'_> {
        Stored {
            url: &self.url,
            headers: &self.headers,
            body: self.body.as_deref(),
        }
    }
}

impl MonitorInput {
    pub fn stored(&self) -> Stored<'_> {
        Stored {
            url: &self.url,
            headers: &self.headers,
            body: self.body.as_deref(),
        }
    }

    /// Whether any value says [`HIDDEN`], i.e. stands for a stored secret.
    pub fn uses_stored_secrets(&self) -> bool {
        self.headers.iter().any(|h| h.value == HIDDEN) || self.body.as_deref() == Some(HIDDEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(headers: &[(&str, &str)], body: Option<&str>) -> MonitorInput {
        let mut m: MonitorInput =
            serde_json::from_str(r#"{"name":"api","url":"https://example.com/"}"#).unwrap();
        m.headers = headers
            .iter()
            .map(|(n, v)| Header {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect();
        m.body = body.map(str::to_string);
        m
    }

    #[test]
    fn secret_values_and_the_body_are_hidden_and_format_headers_are_not() {
        let m = input(
            &[
                ("Authorization", "Bearer s3cret"),
                ("X-Api-Key", "k"),
                ("Content-Type", "application/json"),
                ("ACCEPT", "*/*"),
            ],
            Some(r#"{"password":"p"}"#),
        )
        .redacted();
        let values: Vec<&str> = m.headers.iter().map(|h| h.value.as_str()).collect();
        assert_eq!(values, [HIDDEN, HIDDEN, "application/json", "*/*"]);
        assert_eq!(m.body.as_deref(), Some(HIDDEN));
        // Nothing to hide stays as it is.
        assert_eq!(input(&[], Some("")).redacted().body.as_deref(), Some(""));
        assert_eq!(input(&[], None).redacted().body, None);
    }

    #[test]
    fn a_redacted_monitor_sent_back_restores_exactly_what_was_stored() {
        let stored = input(
            &[("Authorization", "Bearer s3cret"), ("X-Trace", "abc")],
            Some("payload"),
        );
        let mut back = stored.clone().redacted();
        back.restore_hidden(stored.stored()).unwrap();
        assert_eq!(back, stored);
    }

    #[test]
    fn a_new_value_replaces_the_stored_one_and_a_name_matches_in_any_case() {
        let stored = input(&[("Authorization", "old")], Some("old body"));
        let mut edited = input(&[("authorization", HIDDEN)], Some("new body"));
        edited.restore_hidden(stored.stored()).unwrap();
        assert_eq!(edited.headers[0].value, "old");
        assert_eq!(edited.body.as_deref(), Some("new body"));
    }

    #[test]
    fn a_placeholder_with_nothing_stored_is_an_error_per_field() {
        let mut fresh = input(&[("Authorization", HIDDEN)], Some(HIDDEN));
        let nothing = Stored {
            url: "https://example.com/",
            headers: &[],
            body: None,
        };
        let errors = fresh.restore_hidden(nothing).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["headers", "body"]);
        assert!(errors[0].message.contains("Authorization"));
    }

    #[test]
    fn stored_secrets_stay_with_their_origin() {
        let stored = input(&[("Authorization", "Bearer s3cret")], Some("payload"));
        // Another path, an explicit default port, another case: the same origin.
        for url in ["https://example.com/other?q=1", "https://EXAMPLE.com:443/"] {
            let mut same = stored.clone().redacted();
            same.url = url.into();
            same.restore_hidden(stored.stored()).unwrap();
            assert_eq!(same.headers[0].value, "Bearer s3cret", "{url}");
        }
        for url in [
            "https://attacker.example/",
            "http://example.com/",
            "https://example.com:8443/",
            "https://example.com.attacker.example/",
        ] {
            let mut moved = stored.clone().redacted();
            moved.url = url.into();
            let errors = moved.restore_hidden(stored.stored()).unwrap_err();
            assert_eq!(errors[0].field, "url", "{url}");
            assert_eq!(moved.headers[0].value, HIDDEN, "{url}: nothing restored");
            // Typing the secrets again is how they move.
            let mut retyped = input(&[("Authorization", "Bearer new")], Some("payload"));
            retyped.url = url.into();
            retyped.restore_hidden(stored.stored()).unwrap();
        }
    }
}
