pub mod registry;
pub mod watcher;
