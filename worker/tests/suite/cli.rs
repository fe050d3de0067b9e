//! The `openseer-worker` binary as an operator meets it: a refusal is one
//! line saying what is wrong, even with RUST_BACKTRACE set.

#[test]
fn a_bad_argument_is_one_line_without_a_stack_trace() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openseer-worker"))
        .args([
            "--server",
            "http://127.0.0.1:9",
            "--region",
            "not a region!",
        ])
        .args(["--state-dir", std::env::temp_dir().to_str().unwrap()])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the worker runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "error: --region must be letters, digits and '-' (at most 32)"
    );
}
