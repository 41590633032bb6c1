//! Source snapshots, and the single directory every side is built in.
//!
//! Implementation notes: base, head and the self-test's patched copy are all
//! built in the same directory, `target/bench-gate/tree`. cargo derives crate
//! hashes from package paths and rustc embeds source paths in the binary, so
//! the same sources built at two different paths give differently laid-out
//! executables; on this machine that alone moved a ~30 ns bench by 14 % in
//! every round. Built at one path, identical sources give identical
//! executables, and a comparison measures only the change.
//!
//! A snapshot is written into the directory file by file, rewriting only
//! files whose contents differ (so cargo, which compares modification times,
//! rebuilds only what changed) and deleting files the snapshot lacks (cargo
//! discovers `benches/*.rs` by listing the directory). Commits are read with
//! `git ls-tree` and `git cat-file`, which never touch the repository's state.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::git::Repo;

/// The files of one revision of the sources.
pub(crate) struct Snapshot {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Snapshot {
    /// The files of `commit`.
    ///
    /// # Errors
    ///
    /// git cannot list or read the commit's tree.
    pub(crate) fn from_commit(repo: &Repo, commit: &str) -> Result<Self> {
        Ok(Self {
            files: repo.commit_files(commit)?,
        })
    }

    /// Tracked and untracked (not ignored) files of the working tree, as they
    /// are on disk now.
    ///
    /// # Errors
    ///
    /// A listed file cannot be read.
    pub(crate) fn from_working_tree(repo: &Repo) -> Result<Self> {
        let mut files = Vec::new();
        for path in repo.working_files()? {
            let full = repo.root().join(&path);
            if !full.is_file() {
                continue; // Tracked but deleted in the working tree.
            }
            let bytes =
                std::fs::read(&full).with_context(|| format!("reading {}", full.display()))?;
            files.push((path, bytes));
        }
        Ok(Self { files })
    }

    /// A snapshot of the given files (tests build their own).
    #[cfg(test)]
    pub(crate) fn from_files(files: Vec<(PathBuf, Vec<u8>)>) -> Self {
        Self { files }
    }

    /// The first file under `dir` whose text satisfies `matches`.
    pub(crate) fn find(&self, dir: &str, matches: impl Fn(&str) -> bool) -> Option<PathBuf> {
        self.files
            .iter()
            .filter(|(path, _)| path.starts_with(dir))
            .find(|(_, bytes)| std::str::from_utf8(bytes).is_ok_and(&matches))
            .map(|(path, _)| path.clone())
    }

    /// Replaces the text of `path` with `edit(text)`.
    ///
    /// # Errors
    ///
    /// No such file, it is not UTF-8, or `edit` fails.
    pub(crate) fn edit(
        &mut self,
        path: &Path,
        edit: impl Fn(&str) -> Result<String>,
    ) -> Result<()> {
        let Some((_, bytes)) = self.files.iter_mut().find(|(p, _)| p == path) else {
            bail!("{} is not in the snapshot", path.display());
        };
        let text = std::str::from_utf8(bytes).context("not UTF-8")?;
        *bytes = edit(text)?.into_bytes();
        Ok(())
    }

    /// Makes `dir` hold exactly this snapshot.
    ///
    /// # Errors
    ///
    /// A file cannot be written or a stale one removed.
    pub(crate) fn materialize(&self, dir: &Path) -> Result<()> {
        let mut keep = BTreeSet::new();
        for (path, bytes) in &self.files {
            let full = dir.join(path);
            write_if_changed(&full, bytes)?;
            keep.insert(full);
        }
        remove_others(dir, &keep)
    }
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn remove_others(dir: &Path, keep: &BTreeSet<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            remove_others(&path, keep)?;
        } else if !keep.contains(&path) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}
