//! The deployment files in ops/ cannot be built here (no container engine,
//! no systemd), so this lints them: multi-stage builds with a non-root
//! runtime, and every binary, package and path they name exists.

use crate::common;

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

/// ops/compose: 3 nodes, PostgreSQL, HAProxy and 2 workers. Compose cannot
/// run here either, so this checks what would break it: the files it builds
/// and mounts exist, each node has its own id, data and fixed address on the
/// network it dials peers over, the others join the first, the secret comes
/// from the environment, workers go through HAProxy, and HAProxy's config is
/// the project's template with exactly these nodes filled in.
#[test]
fn the_compose_file_wires_three_nodes_postgres_haproxy_and_two_workers() {
    use serde_json::Value;
    let file = "ops/compose/compose.yaml";
    let text = read(file);
    let compose: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let services = compose["services"].as_object().expect("services");
    let mut names: Vec<&str> = services.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "haproxy",
            "node1",
            "node2",
            "node3",
            "postgres",
            "worker-eu",
            "worker-us"
        ]
    );
    let compose_dir = root().join("ops/compose");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("a list: {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let flag = |command: &[String], name: &str| -> Option<String> {
        command
            .windows(2)
            .find(|w| w[0] == name)
            .map(|w| w[1].clone())
    };
    let subnet = compose["networks"]["cluster"]["ipam"]["config"][0]["subnet"]
        .as_str()
        .expect("the cluster network has a fixed subnet");
    let prefix = subnet.trim_end_matches("0/24");
    assert_ne!(prefix, subnet, "a /24 subnet: {subnet}");

    let mut servers = Vec::new();
    for (i, name) in ["node1", "node2", "node3"].iter().enumerate() {
        let s = &services[*name];
        assert_eq!(s["build"]["context"], "../..", "{name}");
        let dockerfile = s["build"]["dockerfile"].as_str().unwrap();
        assert_eq!(dockerfile, "ops/container/node.Dockerfile");
        assert!(root().join(dockerfile).exists());
        let command = strings(&s["command"]);
        assert_eq!(command[0], "serve", "{name}");
        assert_eq!(flag(&command, "--node-id"), Some((i + 1).to_string()));
        let ip = s["networks"]["cluster"]["ipv4_address"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: a fixed address"));
        assert!(ip.starts_with(prefix), "{name}: {ip} outside {subnet}");
        assert_eq!(flag(&command, "--cluster"), Some(format!("{ip}:9090")));
        assert_eq!(
            flag(&command, "--advertise-http"),
            Some(format!("{ip}:8080"))
        );
        let env = &s["environment"];
        assert_eq!(env["OPENSEER_HTTP"], "0.0.0.0:8080");
        assert!(env["OPENSEER_DATABASE_URL"]
            .as_str()
            .unwrap()
            .contains("@postgres:5432/"));
        assert!(
            env["OPENSEER_CLUSTER_SECRET"]
                .as_str()
                .unwrap()
                .starts_with("${OPENSEER_CLUSTER_SECRET:?"),
            "{name}: the secret must come from the environment, and be required"
        );
        assert_eq!(
            strings(&s["volumes"]),
            [format!("{name}:/var/lib/openseer")],
            "{name}: its own data (the raft log) in a volume"
        );
        assert_eq!(
            s["depends_on"]["postgres"]["condition"], "service_healthy",
            "{name}"
        );
        match i {
            0 => assert_eq!(flag(&command, "--join"), None, "node1 starts the cluster"),
            _ => assert_eq!(
                flag(&command, "--join"),
                Some(format!(
                    "{}:8080",
                    services["node1"]["networks"]["cluster"]["ipv4_address"]
                        .as_str()
                        .unwrap()
                ))
            ),
        }
        servers.push(format!("    server {name} {ip}:8080 check"));
    }

    for region in ["eu", "us"] {
        let s = &services[&format!("worker-{region}")];
        assert_eq!(s["build"]["dockerfile"], "ops/container/worker.Dockerfile");
        assert_eq!(s["environment"]["OPENSEER_SERVER"], "http://haproxy:8080");
        assert_eq!(s["environment"]["OPENSEER_REGION"], region);
        assert_eq!(strings(&s["profiles"]), ["workers"]);
        assert_eq!(
            strings(&s["volumes"]),
            [format!("worker-{region}:/var/lib/openseer-worker")]
        );
    }

    let haproxy = &services["haproxy"];
    assert_eq!(strings(&haproxy["ports"]), ["8080:8080"]);
    let mount = strings(&haproxy["volumes"])[0].clone();
    let host = mount.split(':').next().unwrap();
    let cfg = std::fs::read_to_string(compose_dir.join(host))
        .unwrap_or_else(|e| panic!("{file} mounts {host}: {e}"));
    let rendered = read("ops/haproxy/openseer.cfg.in")
        .replace("@BIND@", ":8080")
        .replace("@SERVERS@", &servers.join("\n"));
    let body: String = cfg
        .lines()
        .skip_while(|l| l.starts_with("# Rendered") || l.starts_with("# (BIND"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body, rendered,
        "ops/compose/haproxy.cfg must be ops/haproxy/openseer.cfg.in with the compose nodes filled in"
    );

    // HAProxy itself reads it (ops/test.sh installs and requires it).
    if let Some(bin) = common::tool("haproxy", common::HAPROXY, "OPENSEER_REQUIRE_HAPROXY") {
        let out = std::process::Command::new(bin)
            .arg("-c")
            .arg("-f")
            .arg(compose_dir.join(host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "haproxy -c: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let volumes: Vec<&str> = compose["volumes"]
        .as_object()
        .expect("named volumes")
        .keys()
        .map(String::as_str)
        .collect();
    for v in [
        "postgres",
        "node1",
        "node2",
        "node3",
        "worker-eu",
        "worker-us",
    ] {
        assert!(volumes.contains(&v), "volume {v} declared");
    }
}
