//! The pure core of OpenSeer: the rules every other layer builds on, with
//! no IO, no clock of its own and no runtime. The node's actors wrap
//! [`timetable`] and [`leases`] in timers and messages, the cluster drives
//! [`assign`], Alerts asks [`alert`] and [`maintenance`], the store encodes [`rollup`] aggregates, and everyone shares
//! [`model`]. Time comes in as an argument or through [`clock::Clock`].

pub mod alert;
pub mod assign;
pub mod calendar;
pub mod clock;
pub mod leases;
pub mod maintenance;
pub mod model;
pub mod rollup;
pub mod schedule;
pub mod timetable;
