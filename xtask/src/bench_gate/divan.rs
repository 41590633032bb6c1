//! Parser for divan's table output (divan `=0.1.21`, which has no JSON output).
//!
//! divan prints one tree per bench binary:
//!
//! ```text
//! dispatch          fastest   │ slowest   │ median    │ mean      │ samples │ iters
//! ├─ typed          201.2 ns  │ 1.52 µs   │ 210.4 ns  │ 230.1 ns  │ 100     │ 6400
//! ╰─ group                    │           │           │           │         │
//!    ╰─ 64          12.5 µs   │ 30.1 µs   │ 12.9 µs   │ 13.4 µs   │ 100     │ 100
//!                   5.1 GB/s  │ …         │ …         │ …         │         │
//! ```
//!
//! Implementation notes: the tree prefix also uses `│`, and divan widens the
//! name column on the fly when a name does not fit, so column positions are not
//! fixed. Every table row, however, has exactly five column separators to the
//! right of the name, and no cell value contains `│`; rows are therefore split
//! from the right. The first cell holds the tree prefix, the name and the
//! `fastest` value. Rows without a branch marker (`├─ `/`╰─ `) belong to the
//! bench above them (throughput counters, allocation tallies) and are skipped.
//! Anything else is an error: a silently skipped row would be a bench the gate
//! never checks.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};

/// One benchmark's statistics from one divan run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measurement {
    /// Full path, as divan's filters see it: `binary::group::bench::arg`.
    pub(crate) path: String,
    /// The path to pass to `--exact` to run this bench (thread-count rows
    /// `t=N` cannot be selected on their own, so this is their parent).
    pub(crate) filter_path: String,
    /// Median time per iteration, in nanoseconds.
    pub(crate) median_ns: f64,
    /// Number of samples divan took.
    pub(crate) samples: u64,
    /// Total iterations over all samples.
    pub(crate) iters: u64,
}

/// What one table line turned out to be.
enum Row<'a> {
    Header {
        root: &'a str,
    },
    Parent {
        depth: usize,
        name: &'a str,
    },
    Leaf {
        depth: usize,
        name: &'a str,
        stats: Stats,
    },
    Ignored,
    Detail,
}

struct Stats {
    median_ns: f64,
    samples: u64,
    iters: u64,
}

const COLUMNS: [&str; 5] = ["slowest", "median", "mean", "samples", "iters"];

/// Parses the standard output of one divan run.
///
/// Returns every measured bench in output order. Output without any table
/// (nothing matched the filters) yields an empty list.
///
/// # Errors
///
/// Any line that is not a recognisable table row, a duplicated bench path, or a
/// row that appears before the header.
pub(crate) fn parse_table(stdout: &str) -> Result<Vec<Measurement>> {
    let mut parser = Parser::default();
    for (index, line) in stdout.lines().enumerate() {
        parser
            .line(line)
            .with_context(|| format!("divan output line {}: {line:?}", index + 1))?;
    }
    Ok(parser.out)
}

#[derive(Default)]
struct Parser {
    /// Names from the binary's root down to the current group.
    stack: Vec<String>,
    /// Whether the previous row was a bench (details may follow it).
    after_leaf: bool,
    seen: BTreeSet<String>,
    out: Vec<Measurement>,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<()> {
        if line.trim().is_empty() {
            self.after_leaf = false;
            return Ok(());
        }
        match classify(line)? {
            Row::Header { root } => {
                self.stack = vec![root.to_owned()];
                self.after_leaf = false;
            }
            Row::Parent { depth, name } => {
                self.enter(depth)?;
                self.stack.push(name.to_owned());
                self.after_leaf = false;
            }
            Row::Leaf { depth, name, stats } => {
                self.enter(depth)?;
                self.leaf(name, stats)?;
                self.after_leaf = true;
            }
            Row::Ignored => self.after_leaf = false,
            Row::Detail => ensure!(self.after_leaf, "a detail row that follows no bench"),
        }
        Ok(())
    }

    /// Truncates the group stack so that the next node sits at `depth`.
    fn enter(&mut self, depth: usize) -> Result<()> {
        ensure!(
            !self.stack.is_empty(),
            "a bench row before the table header"
        );
        ensure!(
            depth < self.stack.len(),
            "a row nested deeper than its parent"
        );
        self.stack.truncate(depth + 1);
        Ok(())
    }

    fn leaf(&mut self, name: &str, stats: Stats) -> Result<()> {
        let parent = self.stack.join("::");
        let path = format!("{parent}::{name}");
        let is_thread_row = name
            .strip_prefix("t=")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let filter_path = if is_thread_row { parent } else { path.clone() };
        ensure!(self.seen.insert(path.clone()), "bench {path} appears twice");
        self.out.push(Measurement {
            path,
            filter_path,
            median_ns: stats.median_ns,
            samples: stats.samples,
            iters: stats.iters,
        });
        Ok(())
    }
}

fn classify(line: &str) -> Result<Row<'_>> {
    let mut cells: Vec<&str> = line.rsplitn(6, '│').collect();
    ensure!(
        cells.len() == 6,
        "expected 6 columns, found {}",
        cells.len()
    );
    cells.reverse();
    let first = cells[0];
    let rest: Vec<&str> = cells[1..].iter().map(|c| c.trim()).collect();

    if rest == COLUMNS {
        let root = first
            .trim_end()
            .strip_suffix("fastest")
            .map(str::trim)
            .filter(|root| !root.is_empty() && !root.contains(['├', '╰', '│']))
            .context("a header row without a bench binary name")?;
        return Ok(Row::Header { root });
    }
    let Some((depth, named)) = split_branch(first)? else {
        ensure!(
            rest[3].is_empty() && rest[4].is_empty(),
            "a detail row with sample counts"
        );
        return Ok(Row::Detail);
    };
    if rest.iter().all(|cell| cell.is_empty()) {
        let named = named.trim();
        ensure!(!named.is_empty(), "a group row without a name");
        if named.ends_with("(ignored)") {
            return Ok(Row::Ignored);
        }
        return Ok(Row::Parent { depth, name: named });
    }
    let (name, stats) = leaf_cells(named, &rest)?;
    Ok(Row::Leaf { depth, name, stats })
}

/// Splits the first cell at its branch marker: depth below the root and the
/// text after the marker. `None` when the cell has no marker (a detail row).
fn split_branch(first: &str) -> Result<Option<(usize, &str)>> {
    let marker = ["├─ ", "╰─ "]
        .iter()
        .filter_map(|m| first.find(m).map(|at| (at, m.len())))
        .min();
    let Some((at, len)) = marker else {
        return Ok(None);
    };
    let prefix = &first[..at];
    let width = prefix.chars().count();
    ensure!(
        width.is_multiple_of(3) && prefix.chars().all(|c| c == '│' || c == ' '),
        "a malformed tree prefix"
    );
    Ok(Some((width / 3, &first[at + len..])))
}

/// Splits `name   1.23 ns` into the name and the statistics of a bench row.
fn leaf_cells<'a>(named: &'a str, rest: &[&str]) -> Result<(&'a str, Stats)> {
    let named = named.trim_end();
    let (head, unit) = named
        .rsplit_once(' ')
        .context("a bench row without a fastest time")?;
    let (name, number) = head
        .trim_end()
        .rsplit_once(' ')
        .context("a bench row without a name")?;
    let name = name.trim();
    ensure!(!name.is_empty(), "a bench row without a name");
    parse_duration_ns(&format!("{number} {unit}")).context("the fastest column")?;
    for (cell, column) in rest[..3].iter().zip(COLUMNS) {
        parse_duration_ns(cell).with_context(|| format!("the {column} column"))?;
    }
    let stats = Stats {
        median_ns: parse_duration_ns(rest[1])?,
        samples: rest[3]
            .parse()
            .with_context(|| format!("samples {:?}", rest[3]))?,
        iters: rest[4]
            .parse()
            .with_context(|| format!("iters {:?}", rest[4]))?,
    };
    Ok((name, stats))
}

/// Parses one divan duration (`0.653 ns`, `1.527 µs`, `2.09 ms`, `3 s`) into ns.
pub(crate) fn parse_duration_ns(text: &str) -> Result<f64> {
    let (number, unit) = text.trim().split_once(' ').context("no unit")?;
    let value: f64 = number
        .parse()
        .with_context(|| format!("not a number: {number:?}"))?;
    let scale = match unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        other => bail!("unknown time unit {other:?}"),
    };
    ensure!(
        value.is_finite() && value >= 0.0,
        "not a duration: {text:?}"
    );
    Ok(value * scale)
}
