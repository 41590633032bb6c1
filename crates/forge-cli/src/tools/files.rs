//! A file lister and a file reader confined to one root directory.
//!
//! Containment is checked twice. First the requested path is screened
//! lexically: it must be relative and made only of normal components (`.`
//! is skipped; `..`, a root or a drive prefix is refused). Then the joined
//! path is canonicalised, which resolves every symlink, and the result must
//! lie under the canonical root component by component, so a symlink that
//! leads out, or a sibling directory whose name merely starts with the
//! root's name (`/data` vs `/data-private`), is refused.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use forge_core::{Error, Tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

/// The largest file `read_file` returns.
pub(crate) const MAX_FILE_BYTES: u64 = 64 * 1024;
/// The most entries `list_files` returns.
const MAX_ENTRIES: usize = 256;

/// The directory the file tools may see, canonicalised once.
#[derive(Debug, Clone)]
pub(crate) struct FileRoot {
    root: Arc<Path>,
}

impl FileRoot {
    /// Canonicalises `root`, which must be an existing directory.
    pub(crate) fn new(root: &Path) -> anyhow::Result<Self> {
        let canonical = root
            .canonicalize()
            .with_context(|| format!("the file tools' root {}", root.display()))?;
        anyhow::ensure!(canonical.is_dir(), "{} is not a directory", root.display());
        Ok(Self {
            root: canonical.into(),
        })
    }

    /// Resolves `requested` (relative to the root) to a canonical path inside it.
    pub(crate) async fn resolve(&self, requested: &str) -> Result<PathBuf, Error> {
        let relative = screen(requested)?;
        let joined = self.root.join(relative);
        let canonical = tokio::fs::canonicalize(&joined)
            .await
            .map_err(|error| Error::tool(format!("cannot open `{requested}`: {error}")))?;
        if !canonical.starts_with(&self.root) {
            return Err(Error::tool(format!(
                "`{requested}` leads outside the allowed directory"
            )));
        }
        Ok(canonical)
    }

    fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

/// The lexical check: a relative path of normal components only.
fn screen(requested: &str) -> Result<PathBuf, Error> {
    let mut relative = PathBuf::new();
    for component in Path::new(requested).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::tool(format!("`{requested}`: `..` is not allowed")));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::tool(format!(
                    "`{requested}`: absolute paths are not allowed; use a path relative to the root"
                )));
            }
        }
    }
    Ok(relative)
}

/// `list_files` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListArgs {
    /// A directory relative to the root; the root itself when absent.
    #[serde(default)]
    path: Option<String>,
}

/// One directory entry.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Entry {
    name: String,
    kind: &'static str,
    size: u64,
}

/// What `list_files` returns.
#[derive(Debug, Serialize)]
pub(crate) struct Listing {
    path: String,
    entries: Vec<Entry>,
    truncated: bool,
}

/// Lists a directory under the root.
#[derive(Debug, Clone)]
pub(crate) struct ListFiles {
    root: FileRoot,
}

impl ListFiles {
    pub(crate) fn new(root: FileRoot) -> Self {
        Self { root }
    }
}

impl Tool for ListFiles {
    type Args = ListArgs;
    type Output = Listing;

    fn name(&self) -> &str {
        "list_files"
    }

    fn description(&self) -> &str {
        "Lists the files in a directory (relative to the allowed root): names, kinds and sizes."
    }

    async fn call(&self, args: ListArgs) -> Result<Listing, Error> {
        let requested = args.path.as_deref().unwrap_or(".");
        let dir = self.root.resolve(requested).await?;
        let mut entries = read_entries(&dir).await?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let truncated = entries.len() > MAX_ENTRIES;
        entries.truncate(MAX_ENTRIES);
        let path = self.root.relative(&dir).display().to_string();
        Ok(Listing {
            path,
            entries,
            truncated,
        })
    }
}

async fn read_entries(dir: &Path) -> Result<Vec<Entry>, Error> {
    let fail = |error: std::io::Error| Error::tool(format!("cannot list the directory: {error}"));
    let mut reader = tokio::fs::read_dir(dir).await.map_err(fail)?;
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry().await.map_err(fail)? {
        // Sizes and kinds of the entries themselves, symlinks not followed.
        let meta = entry.metadata().await.map_err(fail)?;
        let kind = if meta.is_dir() {
            "dir"
        } else if meta.is_symlink() {
            "symlink"
        } else if meta.is_file() {
            "file"
        } else {
            "other"
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push(Entry {
            name,
            kind,
            size: meta.len(),
        });
        if entries.len() > MAX_ENTRIES {
            break;
        }
    }
    Ok(entries)
}

/// `read_file` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadArgs {
    /// A file relative to the root.
    #[schemars(length(min = 1))]
    path: String,
}

/// What `read_file` returns.
#[derive(Debug, Serialize)]
pub(crate) struct FileText {
    path: String,
    size: u64,
    text: String,
}

/// Reads a text file under the root, up to [`MAX_FILE_BYTES`].
#[derive(Debug, Clone)]
pub(crate) struct ReadFile {
    root: FileRoot,
}

impl ReadFile {
    pub(crate) fn new(root: FileRoot) -> Self {
        Self { root }
    }
}

impl Tool for ReadFile {
    type Args = ReadArgs;
    type Output = FileText;

    fn name(&self) -> &str {
        "read_file"
    }

    fn description(&self) -> &str {
        "Reads a text file (relative to the allowed root), up to 64 KiB."
    }

    async fn call(&self, args: ReadArgs) -> Result<FileText, Error> {
        let path = self.root.resolve(&args.path).await?;
        let fail = |error: std::io::Error| Error::tool(format!("cannot read the file: {error}"));
        let file = tokio::fs::File::open(&path).await.map_err(fail)?;
        let meta = file.metadata().await.map_err(fail)?;
        if !meta.is_file() {
            return Err(Error::tool(format!("`{}` is not a file", args.path)));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(Error::tool(format!(
                "`{}` has {} bytes; the limit is {MAX_FILE_BYTES}",
                args.path,
                meta.len()
            )));
        }
        // The file may grow after the check: never read past the limit.
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES)
            .read_to_end(&mut bytes)
            .await
            .map_err(fail)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::tool(format!("`{}` is not UTF-8 text", args.path)))?;
        Ok(FileText {
            path: self.root.relative(&path).display().to_string(),
            size: meta.len(),
            text,
        })
    }
}

#[cfg(test)]
mod tests;
