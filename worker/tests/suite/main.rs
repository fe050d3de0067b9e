//! Every integration test of the worker, in one binary. `support` holds
//! the local targets they check.

mod support;

mod check;
mod check_engine;
mod cli;
mod lifecycle;
mod timing;
