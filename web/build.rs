//! Embeds htmx and its SSE extension from the npm registry. The versions are
//! pinned in package.json and package-lock.json; when node_modules/ is
//! missing (a fresh clone) this runs `npm ci`, which installs exactly the
//! locked versions and checks their integrity hashes.

use std::path::{Path, PathBuf};
use std::process::Command;

const ASSETS: &[(&str, &str)] = &[
    ("node_modules/htmx.org/dist/htmx.min.js", "htmx.min.js"),
    ("node_modules/htmx-ext-sse/dist/sse.min.js", "sse.min.js"),
];

fn main() {
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=package.json");
    println!("cargo:rerun-if-changed=package-lock.json");
    if ASSETS.iter().any(|(src, _)| !dir.join(src).exists()) {
        npm_ci(&dir);
    }
    for (src, name) in ASSETS {
        let from = dir.join(src);
        println!("cargo:rerun-if-changed={}", from.display());
        std::fs::copy(&from, out.join(name))
            .unwrap_or_else(|e| panic!("copying {} into the build: {e}", from.display()));
    }
}

fn npm_ci(dir: &Path) {
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "`npm ci` in {} failed ({s}); the dashboard needs htmx from the npm registry",
            dir.display()
        ),
        Err(e) => panic!("could not run npm ({e}); install Node.js and npm, then build again"),
    }
}
