//! Property tests: whatever a browser, an API client or a worker sends, the
//! protocol's decoding and the monitor-spec validation never panic, and
//! every rejection names what is wrong.

use openseer_protocol::assertion::{parse_json_path, parse_lines, Assertion};
use openseer_protocol::monitor::{parse_header_lines, validate_url, IpFamily, StatusRanges};
use openseer_protocol::wire::{
    parse_run_id, run_id, EnrollRequest, GetJobsRequest, RenewLeasesRequest, SubmitResultsRequest,
};
use openseer_protocol::{Header, MonitorInput};
use proptest::prelude::*;

/// The fields `validate` may name; anything else would be an error nobody
/// can place on the form.
const FIELDS: &[&str] = &[
    "name",
    "url",
    "method",
    "headers",
    "body",
    "interval_seconds",
    "timeout_ms",
    "regions",
    "expected_status",
    "keyword",
    "max_redirects",
    "assertions",
    "degraded_above_ms",
    "cert_expiry_days",
];

/// Text a hostile or careless client might send: any characters, biased
/// towards the ones parsers trip on.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "(https?|ftp|gopher|file)://[a-z0-9.:@\\[\\]%/-]{0,40}",
        "[0-9,\\- ]{0,20}",
        "[\\x00-\\x1f\\u{202e}\\u{feff}]{0,5}",
        Just("x".repeat(5000)),
    ]
}

fn monitor() -> impl Strategy<Value = MonitorInput> {
    (
        (
            text(),
            text(),
            text(),
            proptest::collection::vec((text(), text()), 0..4),
        ),
        (proptest::option::of(text()), any::<u32>(), any::<u32>()),
        (
            proptest::collection::vec(text(), 0..4),
            text(),
            proptest::option::of(text()),
        ),
        (any::<bool>(), any::<bool>(), any::<u8>(), any::<bool>()),
        (
            text(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
        ),
    )
        .prop_map(
            |(
                (name, url, method, headers),
                (body, interval_seconds, timeout_ms),
                (regions, expected_status, keyword),
                (enabled, follow_redirects, max_redirects, verify_tls),
                (assertions, degraded_above_ms, cert_expiry_days),
            )| MonitorInput {
                name,
                url,
                method,
                headers: headers
                    .into_iter()
                    .map(|(name, value)| Header { name, value })
                    .collect(),
                body,
                interval_seconds,
                timeout_ms,
                regions,
                expected_status,
                keyword,
                enabled,
                follow_redirects,
                max_redirects,
                keep_secrets_on_redirect: false,
                decompress: true,
                verify_tls,
                ip_family: IpFamily::Auto,
                // Assertions as a user types them on the form.
                assertions: parse_lines(&assertions).unwrap_or_default(),
                degraded_above_ms,
                cert_expiry_days,
                alert: Default::default(),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_never_panics_and_names_each_problem(m in monitor()) {
        match m.validate() {
            Ok(valid) => {
                // What it accepts is what it promises: a bounded, clean name
                // and sorted, unique regions.
                prop_assert!(!valid.name.trim().is_empty());
                let mut sorted = valid.regions.clone();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(&sorted, &valid.regions);
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(FIELDS.contains(&e.field.as_str()), "unknown field {:?}", e.field);
                    prop_assert!(!e.message.trim().is_empty(), "{} has no message", e.field);
                }
            }
        }
    }

    #[test]
    fn a_valid_monitor_stays_valid_through_json(m in monitor()) {
        if let Ok(first) = m.validate() {
            let json = serde_json::to_string(&m).unwrap();
            let back: MonitorInput = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.validate().ok(), Some(first));
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<MonitorInput>(&bytes).map(|m| m.validate());
        let _ = serde_json::from_slice::<SubmitResultsRequest>(&bytes);
        let _ = serde_json::from_slice::<GetJobsRequest>(&bytes);
        let _ = serde_json::from_slice::<EnrollRequest>(&bytes);
        let _ = serde_json::from_slice::<RenewLeasesRequest>(&bytes);
    }

    #[test]
    fn a_wrong_type_in_any_field_is_a_decoding_error_not_a_panic(
        field in proptest::sample::select(FIELDS),
        value in prop_oneof![
            Just(serde_json::json!(null)),
            Just(serde_json::json!(-1)),
            Just(serde_json::json!(1e300)),
            Just(serde_json::json!({"nested": [1, 2]})),
            Just(serde_json::json!([[["deep"]]])),
            Just(serde_json::json!(true)),
        ],
    ) {
        let mut doc = serde_json::json!({"name": "n", "url": "https://example.com/"});
        doc[field] = value;
        let text = doc.to_string();
        match serde_json::from_str::<MonitorInput>(&text) {
            // Some values are valid for some fields (null for an optional).
            Ok(m) => { let _ = m.validate(); }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!msg.is_empty());
            }
        }
    }

    #[test]
    fn field_parsers_never_panic_and_explain_rejections(s in text()) {
        for r in [
            StatusRanges::parse(&s).map(|_| ()),
            Assertion::parse_line(&s).map(|_| ()),
            parse_lines(&s).map(|_| ()),
            parse_json_path(&s).map(|_| ()),
            parse_header_lines(&s).map(|_| ()),
            validate_url(&s),
        ] {
            if let Err(why) = r {
                prop_assert!(!why.trim().is_empty(), "a rejection without a reason for {:?}", s);
            }
        }
        let _ = parse_run_id(&s);
    }

    #[test]
    fn status_ranges_round_trip_through_their_text(s in "[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?){0,3}") {
        if let Ok(r) = StatusRanges::parse(&s) {
            let again = StatusRanges::parse(&r.to_string()).unwrap();
            prop_assert_eq!(again.to_string(), r.to_string());
            for code in 100u16..600 {
                prop_assert_eq!(again.contains(code), r.contains(code));
            }
        }
    }

    #[test]
    fn run_ids_round_trip(monitor in any::<i64>(), region in "[a-z][a-z0-9-]{0,20}", at in any::<i64>()) {
        let id = run_id(monitor, &region, at);
        prop_assert_eq!(parse_run_id(&id), Some((monitor, region.as_str(), at)));
    }

    /// What is shown of a monitor (secrets hidden) sent back restores the
    /// monitor exactly, and never shows a secret value.
    #[test]
    fn hiding_secrets_and_sending_them_back_round_trips(m in monitor()) {
        let shown = m.clone().redacted();
        for (h, orig) in shown.headers.iter().zip(&m.headers) {
            if openseer_protocol::secret::header_is_secret(&orig.name) && !orig.value.is_empty() {
                prop_assert_eq!(h.value.as_str(), openseer_protocol::secret::HIDDEN);
            }
        }
        let mut back = shown;
        // Names that repeat (in any case) restore to the first one stored.
        let unique = {
            let mut seen = std::collections::HashSet::new();
            m.headers.iter().all(|h| seen.insert(h.name.trim().to_lowercase()))
        };
        let restored = back.restore_hidden(m.stored());
        let plain = m.headers.iter().all(|h| h.value != openseer_protocol::secret::HIDDEN)
            && m.body.as_deref() != Some(openseer_protocol::secret::HIDDEN);
        if unique && plain {
            prop_assert!(restored.is_ok(), "{:?}", restored);
            prop_assert_eq!(back, m);
        }
    }
}
