//! A PostgreSQL server of the test's own, which it may stop and start again:
//! the shared server on 127.0.0.1:5432 serves every other test at the same
//! time. Made with Debian's `initdb`/`pg_ctl` in a temporary directory, on a
//! free port; as root they run as the `postgres` user (initdb refuses root).
//! Without the binaries the test is skipped, unless OPENSEER_REQUIRE_POSTGRES
//! (set by ops/test.sh) says it must run.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    pub fn start() -> Option<OwnPostgres> {
        let Some(bin) = pg_bin() else {
            if std::env::var_os("OPENSEER_REQUIRE_POSTGRES").is_some() {
                panic!(
                    "PostgreSQL's server binaries (initdb, pg_ctl) are required but not installed"
                );
            }
            eprintln!("skipping: no PostgreSQL server binaries under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("openseer-own-pg")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let port = free_port();
        let pg = OwnPostgres { bin, dir, port };
        pg.as_server_user(&format!(
            "{}/initdb -D {}/data -U postgres --auth=trust --no-sync",
            pg.bin.display(),
            pg.dir.path().display()
        ));
        pg.start_again();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server as an operator would (`pg_ctl stop -m fast`): open
    /// connections are cut and new ones refused until [`Self::start_again`].
    pub fn stop(&self) {
        self.pg_ctl("-m fast -w stop");
    }

    /// Starts the server on the same port and data, waiting until it accepts connections.
    pub fn start_again(&self) {
        let socket_dir = self.dir.path();
        self.pg_ctl(&format!(
            "-o '-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off' -l {}/log -w start",
            self.port,
            socket_dir.display(),
            socket_dir.display()
        ));
    }

    fn pg_ctl(&self, args: &str) {
        self.as_server_user(&format!(
            "{}/pg_ctl -D {}/data {args}",
            self.bin.display(),
            self.dir.path().display()
        ));
    }

    fn as_server_user(&self, line: &str) {
        run(&mut server_user(line));
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let line = format!(
            "{}/pg_ctl -D {}/data -m immediate stop",
            self.bin.display(),
            self.dir.path().display()
        );
        let _ = server_user(&line).output();
    }
}

/// `line` in a shell, as the `postgres` user when we are root.
fn server_user(line: &str) -> Command {
    if !is_root() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", line]);
        return cmd;
    }
    let mut cmd = Command::new("su");
    cmd.args(["postgres", "-c", line]);
    cmd
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    found.sort_by_key(|p| version_of(p));
    found.pop()
}

fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn is_root() -> bool {
    // `id -u` rather than libc: the tests need no unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("running a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
