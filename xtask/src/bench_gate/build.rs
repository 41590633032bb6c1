//! Building a revision's bench executables and caching them by revision.
//!
//! Both sides are built by the same cargo with the same `rustc` (pinned through
//! `RUSTC`, so a `rust-toolchain` file at the base cannot switch compilers), in
//! the same directory (see [`super::tree`]), into the workspace's shared target
//! directory, which keeps dependency builds shared. Built at one path, both
//! sides produce the same executable names, so each build's bench executables
//! are copied to `target/bench-gate/bins/<key>/<bench target name>` before the
//! next build replaces them.
//!
//! The cache key of a commit is its hash plus a fingerprint of `rustc -vV`. A
//! working tree with uncommitted changes is never cached under its commit: it
//! is rebuilt every run into a scratch directory (cargo's own incremental
//! state makes an unchanged rebuild quick).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

use super::git::Repo;
use super::tree::Snapshot;

/// The bench package the gate builds.
pub(crate) const BENCH_PACKAGE: &str = "forge-bench";

/// One side of a comparison: bench target names mapped to executables.
#[derive(Debug, Clone)]
pub(crate) struct BenchSet {
    /// A short human name for reports (`abc1234`, `working tree`).
    pub(crate) label: String,
    /// Bench target name to its copied executable.
    pub(crate) bins: BTreeMap<String, PathBuf>,
}

/// Builds bench executables for revisions of one repository.
pub(crate) struct Builder {
    target_dir: PathBuf,
    gate_dir: PathBuf,
    cargo: String,
    rustc: PathBuf,
    toolchain: String,
    /// Held for the builder's life: one gate run at a time owns the build
    /// tree, the staged executables and the machine's attention.
    _lock: std::fs::File,
}

const COMPLETE_MARKER: &str = ".complete";

impl Builder {
    /// A builder using the repository's `target/` directory.
    pub(crate) fn new(repo: &Repo) -> Result<Self> {
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.root().join("target"));
        let gate_dir = target_dir.join("bench-gate");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let (rustc, version) = active_rustc(repo.root())?;
        let toolchain = format!("{:016x}", fnv1a(version.as_bytes()));
        let _lock = lock(&gate_dir)?;
        Ok(Self {
            target_dir,
            gate_dir,
            cargo,
            rustc,
            toolchain,
            _lock,
        })
    }

    /// `target/bench-gate`: the build tree and the copied executables.
    pub(crate) fn gate_dir(&self) -> &Path {
        &self.gate_dir
    }

    /// The cached executables of `commit`, if a previous run built them.
    pub(crate) fn cached(&self, commit: &str) -> Option<BenchSet> {
        let dir = self.commit_dir(commit);
        if !dir.join(COMPLETE_MARKER).is_file() {
            return None;
        }
        read_set(&dir, short(commit)).ok()
    }

    /// Builds `commit` (unless cached).
    ///
    /// # Errors
    ///
    /// The commit cannot be read or does not build.
    pub(crate) fn build_commit(&self, repo: &Repo, commit: &str) -> Result<BenchSet> {
        if let Some(set) = self.cached(commit) {
            eprintln!("bench-gate: {} cached", short(commit));
            return Ok(set);
        }
        let snapshot = Snapshot::from_commit(repo, commit)?;
        self.build_snapshot(&snapshot, &self.commit_dir(commit), short(commit))
    }

    /// Builds the working tree: cached under `commit` when it is `clean`,
    /// else rebuilt into a scratch slot every time.
    ///
    /// # Errors
    ///
    /// The build fails.
    pub(crate) fn build_working_tree(
        &self,
        repo: &Repo,
        commit: &str,
        clean: bool,
    ) -> Result<BenchSet> {
        if clean && let Some(set) = self.cached(commit) {
            eprintln!("bench-gate: {} cached", short(commit));
            return Ok(set);
        }
        let snapshot = Snapshot::from_working_tree(repo)?;
        if clean {
            return self.build_snapshot(&snapshot, &self.commit_dir(commit), short(commit));
        }
        let dest = self.gate_dir.join("bins").join("head-dirty");
        let label = format!("{} + uncommitted changes", short(commit));
        self.build_snapshot(&snapshot, &dest, &label)
    }

    /// Builds `snapshot` in the shared build tree and copies the executables
    /// to `dest`.
    ///
    /// # Errors
    ///
    /// The snapshot cannot be written or cargo fails.
    pub(crate) fn build_snapshot(
        &self,
        snapshot: &Snapshot,
        dest: &Path,
        label: &str,
    ) -> Result<BenchSet> {
        let tree = self.gate_dir.join("tree");
        eprintln!("bench-gate: building {label}");
        snapshot.materialize(&tree)?;
        let built = self.cargo_build(&tree)?;
        let _ = std::fs::remove_dir_all(dest);
        std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
        for (name, exe) in &built {
            std::fs::copy(exe, dest.join(name))
                .with_context(|| format!("copying {}", exe.display()))?;
        }
        std::fs::write(dest.join(COMPLETE_MARKER), label)?;
        read_set(dest, label)
    }

    fn cargo_build(&self, src: &Path) -> Result<BTreeMap<String, PathBuf>> {
        let mut child = Command::new(&self.cargo)
            .args(["bench", "-p", BENCH_PACKAGE, "--no-run"])
            .arg("--message-format=json-render-diagnostics")
            .current_dir(src)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .env("RUSTC", &self.rustc)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {}", self.cargo))?;
        let stdout = child.stdout.take().context("cargo stdout")?;
        let mut bins = BTreeMap::new();
        for line in BufReader::new(stdout).lines() {
            if let Some((name, exe)) = bench_artifact(&line?) {
                bins.insert(name, exe);
            }
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("cargo bench --no-run failed in {}: {status}", src.display());
        }
        Ok(bins)
    }

    fn commit_dir(&self, commit: &str) -> PathBuf {
        self.gate_dir
            .join("bins")
            .join(format!("{commit}-{}", self.toolchain))
    }
}

/// Takes `dir/.lock`, waiting for another gate run to finish if need be.
fn lock(dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".lock");
    let file =
        std::fs::File::create(&path).with_context(|| format!("opening {}", path.display()))?;
    if file.try_lock().is_err() {
        eprintln!(
            "bench-gate: waiting for another bench-gate run ({})",
            path.display()
        );
        file.lock().context("locking the bench-gate directory")?;
    }
    Ok(file)
}

/// The bench target name and executable of one `cargo --message-format=json`
/// line, if it reports a built bench executable.
pub(crate) fn bench_artifact(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let target = &message["target"];
    let kinds = target["kind"].as_array()?;
    if !kinds.iter().any(|kind| kind == "bench") {
        return None;
    }
    let exe = message["executable"].as_str()?;
    Some((target["name"].as_str()?.to_owned(), PathBuf::from(exe)))
}

fn read_set(dir: &Path, label: &str) -> Result<BenchSet> {
    let mut bins = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            bins.insert(name, entry.path());
        }
    }
    Ok(BenchSet {
        label: label.to_owned(),
        bins,
    })
}

/// The `rustc` cargo would use in `dir`, and its `-vV` text.
fn active_rustc(dir: &Path) -> Result<(PathBuf, String)> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = command_text(
        Command::new(&rustc)
            .args(["--print", "sysroot"])
            .current_dir(dir),
    )?;
    let pinned = Path::new(sysroot.trim()).join("bin").join("rustc");
    let pinned = if pinned.is_file() {
        pinned
    } else {
        PathBuf::from(rustc)
    };
    let version = command_text(Command::new(&pinned).arg("-vV").current_dir(dir))?;
    Ok((pinned, version))
}

fn command_text(command: &mut Command) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("could not run {command:?}"))?;
    ensure!(out.status.success(), "{command:?} failed: {}", out.status);
    String::from_utf8(out.stdout).context("non-UTF-8 output")
}

/// The first 7 characters of a commit hash, as git abbreviates it.
pub(crate) fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// 64-bit FNV-1a: a stable fingerprint (std's hasher may change between
/// releases, which would silently invalidate or, worse, alias cache keys).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
