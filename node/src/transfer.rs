//! `openseer export` / `openseer import`: an organization's monitors as a
//! JSON file, so they can be kept in git and applied (configuration as code).
//!
//! Both go through the user API of a running node (with an `ostu_` token), so
//! every change reaches the schedulers at once and is checked by the same
//! validation as the dashboard. Monitors are matched by name. Import is
//! idempotent: a monitor whose spec already matches is left alone; with
//! `prune`, monitors the file does not list are deleted.

use std::collections::HashMap;

use openseer_protocol::MonitorInput;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct MonitorsFile {
    pub monitors: Vec<MonitorInput>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
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
        prune: bool,
    ) -> Result<ImportReport, TransferError> {
        let mut wanted: HashMap<&str, &MonitorInput> = HashMap::new();
        for m in &file.monitors {
            if wanted.insert(m.name.trim(), m).is_some() {
                return Err(TransferError::DuplicateName(m.name.clone()));
            }
        }
        let mut existing: HashMap<String, Listed> = HashMap::new();
        for l in self.list().await? {
            let name = l.spec.name.clone();
            if existing.insert(name.clone(), l).is_some() && wanted.contains_key(name.as_str()) {
                return Err(TransferError::AmbiguousName(name));
            }
        }
        let mut report = ImportReport::default();
        for m in &file.monitors {
            match existing.get(m.name.trim()) {
                None => {
                    self.call("POST", "/api/v1/monitors", Some(m)).await?;
                    report.created += 1;
                }
                Some(l) if same(&l.spec, m) => report.unchanged += 1,
                Some(l) => {
                    self.call("PUT", &format!("/api/v1/monitors/{}", l.id), Some(m))
                        .await?;
                    report.updated += 1;
                }
            }
        }
        if prune {
            for (name, l) in &existing {
                if !wanted.contains_key(name.as_str()) {
                    self.call("DELETE", &format!("/api/v1/monitors/{}", l.id), None)
                        .await?;
                    report.deleted += 1;
                }
            }
        }
        Ok(report)
    }
}

/// Equal after the node's own normalisation (what validation would store).
fn same(stored: &MonitorInput, wanted: &MonitorInput) -> bool {
    match (stored.validate(), wanted.validate()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
