//! The release pipeline: resolve → export → build → check → upload → verify.
//!
//! Nothing here prints: progress goes through a [`crate::report::Reporter`], which the
//! terminal printer and the daemon's job log (`daemon::queue::JobLog`) both
//! implement, so the same code runs by hand, in CI and in the background.

pub mod attest;
pub mod build;
pub mod check;
pub mod index_state;
pub mod install_check;
pub mod rebuild;
pub mod release;
pub mod resolve;
pub mod signature;
pub mod upload;
pub mod verify;
pub mod version_source;
