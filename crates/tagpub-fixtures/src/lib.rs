//! The fixtures tagpub's unit tests (`src/**`), integration tests
//! (`tests/it`) and benchmarks (`benches/`) share: real archives, git with a
//! fixed identity, a real pypiserver from the dev venv, and the isolated
//! tagpub directories a project's commands and daemon run with.
//!
//! It depends on nothing of tagpub's, so a unit test can use it without a
//! second copy of tagpub's types; what needs tagpub itself (the binary, the
//! sample monorepo) stays in `tests/it/common`.

pub mod archive;
pub mod dirs;
pub mod git;
pub mod pypi;

pub use archive::{Member, wheel_bytes, write_wheel};
pub use pypi::{PypiServer, unique, venv, venv_bin};
