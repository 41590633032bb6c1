//! The few git queries the gate needs.
//!
//! Every command here only reads: queries run with `--no-optional-locks` so
//! that a gate run never even refreshes the index of the tree it measures, and
//! a base revision is read object by object rather than checked out.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

/// A repository, addressed by its top-level directory.
pub(crate) struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The repository containing the current directory.
    pub(crate) fn discover() -> Result<Self> {
        let cwd = std::env::current_dir().context("no current directory")?;
        let probe = Self { root: cwd };
        let top = probe.output(&["rev-parse", "--show-toplevel"])?;
        Ok(Self {
            root: PathBuf::from(top),
        })
    }

    /// The top-level directory of the working tree.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The full commit hash `rev` names, or `None` when it names no commit
    /// (unknown name, or a commit missing from a shallow clone).
    pub(crate) fn resolve(&self, rev: &str) -> Option<String> {
        let spec = format!("{rev}^{{commit}}");
        self.output(&["rev-parse", "--verify", "--quiet", &spec])
            .ok()
    }

    /// The default branch: `origin/HEAD` when a remote says so, else the first
    /// of `origin/main`, `origin/master`, `main`, `master` that exists.
    pub(crate) fn default_branch(&self) -> Option<String> {
        let remote_head = self.output(&[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ]);
        if let Ok(branch) = remote_head {
            return Some(branch);
        }
        ["origin/main", "origin/master", "main", "master"]
            .into_iter()
            .find(|name| self.resolve(name).is_some())
            .map(str::to_owned)
    }

    /// The merge-base of `a` and `b`, if they share history locally.
    pub(crate) fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        self.output(&["merge-base", a, b]).ok()
    }

    /// Whether tracked files differ from `HEAD` or untracked files exist.
    pub(crate) fn is_dirty(&self) -> Result<bool> {
        let status = self.output(&["status", "--porcelain", "--untracked-files=normal"])?;
        Ok(!status.is_empty())
    }

    /// Whether the repository is a shallow clone.
    pub(crate) fn is_shallow(&self) -> bool {
        self.output(&["rev-parse", "--is-shallow-repository"])
            .is_ok_and(|out| out == "true")
    }

    /// Tracked and untracked (not ignored) files of the working tree, relative
    /// to the root.
    pub(crate) fn working_files(&self) -> Result<Vec<PathBuf>> {
        let listing = self.output(&[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])?;
        Ok(listing
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .collect())
    }

    /// Path and contents of every regular file in `commit`'s tree (symlinks
    /// and submodules are left out).
    pub(crate) fn commit_files(&self, commit: &str) -> Result<Vec<(PathBuf, Vec<u8>)>> {
        let listing = self.output(&["ls-tree", "-r", "-z", "--full-tree", commit])?;
        let mut entries = Vec::new();
        for entry in listing.split('\0').filter(|e| !e.is_empty()) {
            // `<mode> SP <type> SP <object> TAB <path>`
            let (meta, path) = entry.split_once('\t').context("malformed ls-tree entry")?;
            let mut fields = meta.split(' ');
            let (mode, kind, object) = (fields.next(), fields.next(), fields.next());
            if kind == Some("blob") && matches!(mode, Some("100644" | "100755")) {
                let object = object.context("malformed ls-tree entry")?;
                entries.push((PathBuf::from(path), object.to_owned()));
            }
        }
        let objects: Vec<&str> = entries.iter().map(|(_, object)| object.as_str()).collect();
        let blobs = self.blobs(&objects)?;
        Ok(entries
            .into_iter()
            .map(|(path, _)| path)
            .zip(blobs)
            .collect())
    }

    /// The contents of `objects`, in order, read with one `git cat-file`.
    fn blobs(&self, objects: &[&str]) -> Result<Vec<Vec<u8>>> {
        let mut child = Command::new("git")
            .args(["--no-optional-locks", "cat-file", "--batch"])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("could not run git cat-file")?;
        let mut stdin = child.stdin.take().context("git cat-file stdin")?;
        let request: String = objects.iter().map(|o| format!("{o}\n")).collect();
        let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
        let out = child.wait_with_output().context("reading git cat-file")?;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("git cat-file writer panicked"))??;
        ensure!(out.status.success(), "git cat-file failed: {}", out.status);
        parse_batch(&out.stdout, objects.len())
    }

    fn output(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .arg("--no-optional-locks")
            .args(args)
            .current_dir(&self.root)
            .output()
            .context("could not run git")?;
        if !out.status.success() {
            bail!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8(out.stdout).context("git printed non-UTF-8")?;
        Ok(text.trim_end_matches('\n').to_owned())
    }
}

/// Splits `git cat-file --batch` output into `count` object contents.
pub(crate) fn parse_batch(mut out: &[u8], count: usize) -> Result<Vec<Vec<u8>>> {
    let mut blobs = Vec::with_capacity(count);
    for _ in 0..count {
        let newline = out
            .iter()
            .position(|&b| b == b'\n')
            .context("truncated cat-file output")?;
        let header = std::str::from_utf8(&out[..newline]).context("cat-file header")?;
        // `<object> SP <type> SP <size>`, or `<object> SP missing`.
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|size| size.parse().ok())
            .with_context(|| format!("cat-file: {header}"))?;
        let body = out
            .get(newline + 1..newline + 1 + size)
            .context("truncated cat-file body")?;
        blobs.push(body.to_vec());
        out = out.get(newline + 2 + size..).unwrap_or_default();
    }
    Ok(blobs)
}
