//! tagpub: publish Python packages the moment their release tag is created.

pub mod git;
pub mod pipeline;
pub mod repository;
pub mod version;
