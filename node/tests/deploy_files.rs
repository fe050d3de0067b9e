//! The deployment files in ops/ cannot be built here (no container engine,
//! no systemd), so this lints them: multi-stage builds with a non-root
//! runtime, and every binary, package and path they name exists.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Binary names declared by the workspace's packages.
fn binaries() -> Vec<String> {
    let mut out = Vec::new();
    for pkg in ["node", "worker", "web", "protocol"] {
        let manifest = read(&format!("{pkg}/Cargo.toml"));
        let mut in_bin = false;
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin {
                if let Some(v) = line.strip_prefix("name = ") {
                    out.push(v.trim_matches('"').to_string());
                }
            }
        }
    }
    out
}

fn packages() -> Vec<String> {
    ["node", "worker", "web", "protocol"]
        .iter()
        .filter_map(|p| {
            read(&format!("{p}/Cargo.toml")).lines().find_map(|l| {
                l.trim()
                    .strip_prefix("name = ")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .collect()
}

#[test]
fn container_files_are_multi_stage_non_root_and_name_real_things() {
    let bins = binaries();
    assert!(
        bins.contains(&"openseer".to_string()) && bins.contains(&"openseer-worker".to_string()),
        "{bins:?}"
    );
    let pkgs = packages();
    for file in [
        "ops/container/node.Dockerfile",
        "ops/container/worker.Dockerfile",
    ] {
        let text = read(file);
        let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert!(stages.len() >= 2, "{file}: not multi-stage");
        let runtime = text.rsplit("\nFROM ").next().unwrap();
        let user = runtime
            .lines()
            .find_map(|l| l.strip_prefix("USER "))
            .unwrap_or_else(|| panic!("{file}: no USER in the runtime stage"));
        assert_ne!(user.trim(), "root", "{file}: runs as root");
        assert!(
            runtime.contains("slim"),
            "{file}: the runtime stage is not a small image"
        );
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for w in words.windows(2) {
                if w[0] == "--bin" {
                    assert!(
                        bins.iter().any(|b| b == w[1]),
                        "{file}: --bin {} is not a binary of the workspace",
                        w[1]
                    );
                }
                if w[0] == "-p" {
                    assert!(
                        pkgs.iter().any(|p| p == w[1]),
                        "{file}: -p {} is not a package of the workspace",
                        w[1]
                    );
                }
            }
            if let Some(rest) = line.strip_prefix("COPY --from=build /src/target/release/") {
                let bin = rest.split_whitespace().next().unwrap();
                assert!(
                    bins.iter().any(|b| b == bin),
                    "{file}: copies {bin}, which nothing builds"
                );
            }
            if let Some(rest) = line.strip_prefix("ENTRYPOINT [\"/usr/local/bin/") {
                let bin = rest.split('"').next().unwrap();
                assert!(
                    bins.iter().any(|b| b == bin),
                    "{file}: runs {bin}, which is not a workspace binary"
                );
            }
        }
        let usage = format!("docker build -f {file}");
        assert!(
            text.contains(&usage),
            "{file}: the header should say how to build it"
        );
    }
}

#[test]
fn systemd_units_run_real_binaries_as_a_service_user() {
    let bins = binaries();
    for file in [
        "ops/systemd/openseer.service",
        "ops/systemd/openseer-worker.service",
    ] {
        let text = read(file);
        for section in ["[Unit]", "[Service]", "[Install]"] {
            assert!(text.contains(section), "{file}: no {section}");
        }
        let user = text
            .lines()
            .find_map(|l| l.strip_prefix("User="))
            .unwrap_or_else(|| panic!("{file}: no User="));
        assert_ne!(user, "root");
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{file}: no ExecStart="));
        let bin = exec
            .split_whitespace()
            .next()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert!(
            bins.iter().any(|b| b == bin),
            "{file}: runs {bin}, which is not a workspace binary"
        );
        assert!(
            text.contains("KillSignal=SIGTERM"),
            "{file}: a clean stop needs SIGTERM"
        );
    }
}
