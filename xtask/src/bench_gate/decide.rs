//! The decision rule: when does a bench count as slower?
//!
//! Each round runs base and head back to back, so one round yields one ratio
//! `head median / base median` that shares the machine's load of that moment.
//! Slow drifts of load cancel within a ratio; bursts hit one side of one round.
//! The rule therefore asks two questions of the ratios: is the typical round
//! (their median) slower by more than the threshold, and do the rounds agree
//! (at least [`AGREE_PERCENT`] % of them slower at all)? Both must hold for a
//! regression. A median above the threshold without agreement is noise or an
//! unstable bench: more rounds, then "inconclusive" with a warning.
//!
//! A consistent slowdown just under the threshold is also borderline: with a
//! true slowdown near the threshold, one batch of rounds may land on either
//! side, and more rounds narrow the estimate before the gate lets it pass.
//! So is a regression less than twice the threshold: noise on this machine
//! can make ten rounds agree on a 5 % change of identical executables (seen
//! once as a false "improvement"), so a failure short of a clear one must
//! survive the extra rounds as well.

/// Share of rounds (in percent) that must agree on the direction of a change.
pub(crate) const AGREE_PERCENT: usize = 80;

/// A consistent slowdown above this fraction of the threshold earns more rounds.
const NEAR_FRACTION: f64 = 0.5;
/// A regression below this multiple of the threshold is confirmed with more
/// rounds before it fails the gate.
const CLEAR_FACTOR: f64 = 2.0;

/// The outcome for one bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Slower beyond the threshold, confirmed by most rounds: fails the gate.
    Regression,
    /// Slower beyond the threshold in the median, but the rounds disagree.
    Inconclusive,
    /// Faster beyond the threshold, confirmed by most rounds.
    Improvement,
    /// Within the threshold.
    Unchanged,
}

impl Verdict {
    /// The word used in the report table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Regression => "**regression**",
            Self::Inconclusive => "inconclusive (warning)",
            Self::Improvement => "improvement",
            Self::Unchanged => "ok",
        }
    }
}

/// The rule applied to one bench's ratios.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assessment {
    /// Median over rounds of `head / base`.
    pub(crate) median_ratio: f64,
    /// Rounds in which head was slower (ratio above 1).
    pub(crate) slower: usize,
    /// Rounds in which head was faster (ratio below 1).
    pub(crate) faster: usize,
    /// Rounds measured.
    pub(crate) rounds: usize,
    /// The verdict if no more rounds are run.
    pub(crate) verdict: Verdict,
    /// Whether more rounds could change the verdict.
    pub(crate) borderline: bool,
}

/// Applies the rule to one bench's per-round ratios; `threshold` is a
/// fraction (0.05 for 5 %).
pub(crate) fn assess(ratios: &[f64], threshold: f64) -> Assessment {
    let rounds = ratios.len();
    let median_ratio = median(ratios).unwrap_or(f64::NAN);
    let slower = ratios.iter().filter(|&&r| r > 1.0).count();
    let faster = ratios.iter().filter(|&&r| r < 1.0).count();
    let agree = |count: usize| rounds > 0 && count * 100 >= rounds * AGREE_PERCENT;

    let upper = 1.0 + threshold;
    let near = 1.0 + threshold * NEAR_FRACTION;
    let (verdict, borderline) = if rounds == 0 {
        (Verdict::Inconclusive, false)
    } else if median_ratio > upper {
        if agree(slower) {
            // A failure is costly: unless the slowdown is clear, confirm it
            // with more rounds before the gate fails.
            (
                Verdict::Regression,
                median_ratio < 1.0 + threshold * CLEAR_FACTOR,
            )
        } else {
            (Verdict::Inconclusive, true)
        }
    } else if median_ratio > near && agree(slower) {
        (Verdict::Unchanged, true)
    } else if median_ratio * upper < 1.0 && agree(faster) {
        (Verdict::Improvement, false)
    } else {
        (Verdict::Unchanged, false)
    };
    Assessment {
        median_ratio,
        slower,
        faster,
        rounds,
        verdict,
        borderline,
    }
}

/// The median of `values` (mean of the middle two for even lengths).
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}
