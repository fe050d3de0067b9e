//! `openseer export` / `openseer import`: an organization's monitors as a
//! YAML or JSON file, so they can be kept in git and applied (configuration
//! as code).
//!
//! Both go through the user API of a running node (with an `ostu_` token), so
//! every change reaches the schedulers at once and is checked by the same
//! validation as the dashboard. Monitors are matched by name. Import is
//! idempotent: a monitor whose spec already matches is left alone; with
//! `prune`, monitors the file does not list are deleted.

use std::collections::HashMap;
use std::path::Path;

use openseer_protocol::secret::HIDDEN;
use openseer_protocol::MonitorInput;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct MonitorsFile {
    pub monitors: Vec<MonitorInput>,
}

/// The two spellings of a monitors file (also `openseer export --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// By the file's extension: `.json` is JSON, `.yaml`/`.yml` YAML.
    pub fn of_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// For a file to read: by its extension, else by its first character
    /// (a JSON file starts with `{`).
    pub fn of_file(path: &Path, text: &str) -> Format {
        Format::of_path(path).unwrap_or(if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        })
    }
}

impl MonitorsFile {
    pub fn render(&self, format: Format) -> Result<String, TransferError> {
        match format {
            Format::Json => Ok(serde_json::to_string_pretty(self)
                .map_err(|e| TransferError::Render(e.to_string()))?
                + "\n"),
            Format::Yaml => {
                serde_saphyr::to_string(self).map_err(|e| TransferError::Render(e.to_string()))
            }
        }
    }

    /// Parses a file; the error names the line and what was wrong.
    pub fn parse(text: &str, format: Format) -> Result<MonitorsFile, TransferError> {
        match format {
            Format::Json => {
                serde_json::from_str(text).map_err(|e| TransferError::Parse(e.to_string()))
            }
            Format::Yaml => {
                serde_saphyr::from_str(text).map_err(|e| TransferError::Parse(e.to_string()))
            }
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
    /// Each monitor created, updated or deleted (or that would be, in a
    /// dry run), by name, in the order done.
    pub changes: Vec<(Change, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Delete,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Delete => "delete",
        }
    }
}

/// How an import goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Delete the organization's monitors the file does not list.
    pub prune: bool,
    /// Check the file and say what would change; change nothing. A monitor
    /// whose file entry writes a secret out counts as an update (only the
    /// node could tell whether the secret is the same).
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("not a monitors file: {0}")]
    Parse(String),
    #[error("monitor {name:?} is not valid: {errors}; nothing was changed")]
    Invalid { name: String, errors: String },
    #[error("writing the monitors file: {0}")]
    Render(String),
    #[error("the file lists {0:?} more than once; monitor names must be unique to import")]
    DuplicateName(String),
    #[error("the node has several monitors named {0:?}; rename them before importing")]
    AmbiguousName(String),
    #[error("{method} {path}: HTTP {status}: {body}")]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    #[error("talking to the node: {0}")]
    Http(#[from] reqwest::Error),
}

#[derive(Deserialize)]
struct Listed {
    id: i64,
    #[serde(flatten)]
    spec: MonitorInput,
}

#[derive(Deserialize)]
struct List {
    monitors: Vec<Listed>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Result<Client, TransferError> {
        Ok(Client {
            http: reqwest::Client::builder().build()?,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    async fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&MonitorInput>,
    ) -> Result<reqwest::Response, TransferError> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "PUT" => self.http.put(&url),
            _ => self.http.delete(&url),
        };
        let req = req.bearer_auth(&self.token);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        let resp = req.send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(TransferError::Api {
            method,
            path: path.to_string(),
            status: resp.status().as_u16(),
            body: resp.text().await.unwrap_or_default(),
        })
    }

    async fn list(&self) -> Result<Vec<Listed>, TransferError> {
        Ok(self
            .call("GET", "/api/v1/monitors", None)
            .await?
            .json::<List>()
            .await?
            .monitors)
    }

    pub async fn export(&self) -> Result<MonitorsFile, TransferError> {
        let mut monitors: Vec<MonitorInput> =
            self.list().await?.into_iter().map(|l| l.spec).collect();
        monitors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(MonitorsFile { monitors })
    }

    pub async fn import(
        &self,
        file: &MonitorsFile,
        options: ImportOptions,
    ) -> Result<ImportReport, TransferError> {
        let mut existing: HashMap<String, Listed> = HashMap::new();
        let mut names_twice = Vec::new();
        for l in self.list().await? {
            let name = l.spec.name.clone();
            if existing.insert(name.clone(), l).is_some() {
                names_twice.push(name);
            }
        }
        // Every entry is checked before anything is sent: a bad file
        // changes nothing, instead of the entries before the bad one. An
        // entry for an existing monitor may keep a secret as `<hidden>`
        // (as exported); a new one must give it.
        let mut wanted: HashMap<&str, &MonitorInput> = HashMap::new();
        for m in &file.monitors {
            let checked = match existing.contains_key(m.name.trim()) {
                true => with_placeholders(m).validate(),
                false => m.validate(),
            };
            if let Err(errors) = checked {
                return Err(TransferError::Invalid {
                    name: m.name.clone(),
                    errors: errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            if wanted.insert(m.name.trim(), m).is_some() {
                return Err(TransferError::DuplicateName(m.name.clone()));
            }
        }
        if let Some(name) = names_twice
            .into_iter()
            .find(|n| wanted.contains_key(n.as_str()))
        {
            return Err(TransferError::AmbiguousName(name));
        }
        let mut report = ImportReport::default();
        let note = |report: &mut ImportReport, change: Change, name: &str| {
            match change {
                Change::Create => report.created += 1,
                Change::Update => report.updated += 1,
                Change::Delete => report.deleted += 1,
            }
            report.changes.push((change, name.trim().to_string()));
        };
        for m in &file.monitors {
            match existing.get(m.name.trim()) {
                None => {
                    if !options.dry_run {
                        self.call("POST", "/api/v1/monitors", Some(m)).await?;
                    }
                    note(&mut report, Change::Create, &m.name);
                }
                Some(l) if same(&l.spec, m) => report.unchanged += 1,
                Some(_) if options.dry_run => note(&mut report, Change::Update, &m.name),
                Some(l) => {
                    let r = self
                        .call("PUT", &format!("/api/v1/monitors/{}", l.id), Some(m))
                        .await?;
                    // A secret written out in the file cannot be compared
                    // here; the node says whether it was already so.
                    match r.headers().get(CHANGED).and_then(|v| v.to_str().ok()) {
                        Some("false") => report.unchanged += 1,
                        _ => note(&mut report, Change::Update, &m.name),
                    }
                }
            }
        }
        if options.prune {
            let mut gone: Vec<(&String, &Listed)> = existing
                .iter()
                .filter(|(name, _)| !wanted.contains_key(name.as_str()))
                .collect();
            gone.sort_by_key(|(name, _)| name.as_str());
            for (name, l) in gone {
                if !options.dry_run {
                    self.call("DELETE", &format!("/api/v1/monitors/{}", l.id), None)
                        .await?;
                }
                note(&mut report, Change::Delete, name);
            }
        }
        Ok(report)
    }
}

/// The header of an API update that says whether the monitor changed.
pub const CHANGED: &str = "X-OpenSeer-Changed";

/// Equal after the node's own normalisation (what validation would store).
/// A secret the node shows as `<hidden>` equals `<hidden>` in the file; a
/// value written out in the file cannot be compared with it, so that entry
/// is sent again.
fn same(stored: &MonitorInput, wanted: &MonitorInput) -> bool {
    match (
        with_placeholders(stored).validate(),
        with_placeholders(wanted).validate(),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `m` with each `<hidden>` replaced by a valid stand-in, so the rest of it
/// can be validated and compared.
fn with_placeholders(m: &MonitorInput) -> MonitorInput {
    const STAND_IN: &str = "kept-by-the-node";
    let mut m = m.clone();
    for h in &mut m.headers {
        if h.value == HIDDEN {
            h.value = STAND_IN.into();
        }
    }
    if m.body.as_deref() == Some(HIDDEN) {
        m.body = Some(STAND_IN.into());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MonitorsFile {
        let json = r#"{"monitors":[
            {"name":"api","url":"https://api.example.com/health","interval_seconds":30,
             "regions":["eu","us"],"headers":[{"name":"Accept","value":"application/json"}],
             "assertions":[{"type":"body_contains","value":"ok"}],"degraded_above_ms":500},
            {"name":"site: home","url":"https://example.com/","keyword":"Welcome # not a comment"}
        ]}"#;
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn yaml_and_json_round_trip_the_same_monitors() {
        let file = sample();
        for format in [Format::Yaml, Format::Json] {
            let text = file.render(format).unwrap();
            let back = MonitorsFile::parse(&text, format).unwrap();
            assert_eq!(back.monitors, file.monitors, "{format:?}:\n{text}");
        }
    }

    #[test]
    fn a_hand_written_yaml_file_takes_the_defaults() {
        let text =
            "monitors:\n  - name: api\n    url: https://api.example.com/\n    regions: [eu]\n";
        let file = MonitorsFile::parse(text, Format::Yaml).unwrap();
        assert_eq!(file.monitors.len(), 1);
        let m = &file.monitors[0];
        assert_eq!(
            (m.method.as_str(), m.interval_seconds, m.enabled),
            ("GET", 60, true)
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        for (text, says) in [
            ("monitors:\n  - name: api\n    url: [unclosed\n", "line"),
            (
                "monitors:\n  - name: api\n    url: https://x/\n    colour: red\n",
                "colour",
            ),
            ("monitors:\n  - url: https://x/\n", "name"),
            ("- just\n- a list\n", "mapping"),
        ] {
            let e = MonitorsFile::parse(text, Format::Yaml)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("not a monitors file") && e.contains(says),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn alias_bombs_are_refused_not_expanded() {
        // Each level refers to the one before nine times: 9^9 names if expanded.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        text += "monitors: *a9\n";
        let e = MonitorsFile::parse(&text, Format::Yaml)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("not a monitors file") && e.contains("budget"),
            "{e}"
        );
    }

    #[test]
    fn the_format_follows_the_extension_then_the_content() {
        assert_eq!(Format::of_path(Path::new("m.YML")), Some(Format::Yaml));
        assert_eq!(Format::of_path(Path::new("m.json")), Some(Format::Json));
        assert_eq!(Format::of_path(Path::new("monitors")), None);
        assert_eq!(
            Format::of_file(Path::new("m"), " {\"monitors\": []}"),
            Format::Json
        );
        assert_eq!(
            Format::of_file(Path::new("m"), "monitors: []"),
            Format::Yaml
        );
    }
}
