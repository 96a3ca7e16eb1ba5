//! The release pipeline: resolve → export → build → check → upload → verify.
//! Nothing here prints: progress goes through [`Reporter`].

pub mod check;
