//! Every integration test of the node, in one binary (one link instead of
//! one per file). Each module is one concern; `common` is the harness.

mod common;

mod accounts;
mod alerting;
mod authz;
mod bad_input;
mod browser;
mod cluster;
mod dashboard;
mod deploy_files;
mod e2e;
mod hardening;
mod operations;
mod protocol;
mod resilience;
mod rollup_accuracy;
mod rollups;
mod secrets;
mod store;
mod teams;
