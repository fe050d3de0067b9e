//! Rollup arithmetic: what a bucket holds ([`aggregate`]), the mergeable
//! percentile sketch it carries ([`sketch`]) and which stored pieces answer
//! a time range ([`plan`]). The service that reads and writes them is the
//! node's.

pub mod aggregate;
pub mod plan;
pub mod sketch;

pub use aggregate::{Aggregate, RawSample};
