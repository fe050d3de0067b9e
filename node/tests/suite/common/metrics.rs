//! Reading a `/metrics` answer: values by line, promtool's verdict, and
//! the operator's documentation of every metric.

/// The value of the first sample line that starts with `line_start`
/// (a metric name with its labels, if any).
pub fn value(body: &str, line_start: &str) -> f64 {
    let line = body
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in\n{body}"));
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

/// `promtool check metrics` accepts the exposition. ops/test.sh installs
/// promtool and sets OPENSEER_REQUIRE_PROMTOOL, so a missing one fails.
pub fn promtool_check(body: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var("OPENSEER_REQUIRE_PROMTOOL").is_err(),
            "promtool is required here but missing"
        );
        eprintln!("skipping promtool: not installed");
        return;
    };
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(body.as_bytes())
        .expect("writing to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every metric family in `body` is listed in docs/operations.md, so an
/// operator can look up what a new metric means.
pub fn assert_documented(body: &str) {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/operations.md"
    ))
    .expect("docs/operations.md");
    let families: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(!families.is_empty(), "no metric families in\n{body}");
    let missing: Vec<&&str> = families
        .iter()
        .filter(|name| !doc.contains(&format!("`{name}`")) && !doc.contains(&format!("`{name}{{")))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics missing from docs/operations.md: {missing:?}"
    );
}
