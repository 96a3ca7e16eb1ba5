//! tagpub's integration tests: one test binary (`cargo test --test it`),
//! one module per area, all sharing the fixtures in `common/` (a real
//! pypiserver, the real `tagpub` binary, projects in temp dirs) and
//! `tagpub-fixtures` (crates/tagpub-fixtures). Run one area with
//! `cargo test --test it release::`, one test with its full path.

mod common;

mod bump;
mod check_corpus;
mod check_real_builds;
mod check_rules;
mod checkout;
mod ci;
mod concurrency;
mod daemon;
mod daemon_lifecycle;
mod daemon_watch;
mod demo;
mod doctor;
mod git_backends;
mod groups;
mod harness;
mod hooks_install;
mod index_state;
mod init;
mod install;
mod keychain;
mod leaks;
mod nudge;
mod oidc;
mod output_safety;
mod plan_sources;
mod pre_push;
mod rebuild;
mod release;
mod repository_index;
mod reproducible;
mod sandbox;
mod service;
mod signed_tags;
mod symlinks;
mod token;
mod upload_faults;
