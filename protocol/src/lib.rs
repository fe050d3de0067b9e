//! Wire types shared by OpenSeer nodes and workers.
//!
//! Everything here is plain data plus pure validation: no IO, no clocks, no
//! randomness. The node, the worker and the dashboard all validate monitor
//! specs through [`monitor::MonitorInput::validate`], so a form, the JSON API
//! and the scheduler can never disagree about what a valid monitor is.

pub mod access;
pub mod address;
pub mod alert;
pub mod assertion;
pub mod channel;
pub mod error;
pub mod maintenance;
pub mod monitor;
pub mod result;
pub mod secret;
pub mod token;
pub mod wire;

pub use access::{Role, Scope};
pub use alert::AlertRules;
pub use assertion::{Assertion, AssertionResult};
pub use error::{ErrorBody, ErrorCode, FieldError, UnknownValue};
pub use monitor::{CheckOptions, CheckSpec, Header, MonitorInput, StatusRanges};
pub use result::{CheckResult, ErrorKind, Outcome, Timings, TlsInfo};
