//! The built-in tools of `forge run` and `forge load`: each does real work.

mod calculator;
mod clock;
mod files;

use std::path::Path;

use anyhow::Context as _;
use forge_dispatch::Registry;

pub(crate) use calculator::Calculator;
pub(crate) use clock::Clock;
pub(crate) use files::{FileRoot, ListFiles, ReadFile};

/// A registry of the built-in tools, with the file tools confined to `root`.
pub(crate) fn builtin_registry(root: &Path) -> anyhow::Result<Registry> {
    let root = FileRoot::new(root)?;
    Registry::builder()
        .tool(Calculator)
        .tool(Clock)
        .tool(ListFiles::new(root.clone()))
        .tool(ReadFile::new(root))
        .build()
        .context("registering the built-in tools")
}
