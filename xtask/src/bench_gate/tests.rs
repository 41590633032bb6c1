//! Tests of the parser (golden divan output), the decision rule, sample
//! planning, reporting, the self-test patch, and a whole comparison driven by
//! fake divan executables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::baseline_rev;
use super::build::{BenchSet, bench_artifact, fnv1a};
use super::decide::{Verdict, assess, median};
use super::divan::{Measurement, parse_duration_ns, parse_table};
use super::git::parse_batch;
use super::report::{Meta, Tally, format_ns, markdown};
use super::runner::{Settings, Side, compare, sample_plan};
use super::selftest::{exact_regex, inject_spin, refine, secant};
use super::tree::Snapshot;

const GOLDEN: &str = include_str!("testdata/divan_sample.txt");
const GOLDEN_ALLOC: &str = include_str!("testdata/divan_alloc.txt");

fn by_path(list: &[Measurement]) -> BTreeMap<&str, &Measurement> {
    list.iter().map(|m| (m.path.as_str(), m)).collect()
}

#[test]
fn golden_sample_parses_every_bench() {
    let list = parse_table(GOLDEN).unwrap();
    let paths: Vec<&str> = list.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "sample::add",
            "sample::bytes_copy",
            "sample::contended::t=1",
            "sample::contended::t=2",
            "sample::sleep_ms",
            "sample::spin_us",
            "sample::str_arg::with space",
            "sample::str_arg::x",
            "sample::tiny_fixed",
            "sample::vec_sum::1",
            "sample::vec_sum::10",
            "sample::vec_sum::100",
            "sample::vec_sum::1000",
            "sample::default_new::String",
            "sample::default_new::u8",
            "sample::default_new::u64",
            "sample::dispatch::lookup",
            "sample::dispatch::nested::items",
            "sample::dispatch::nested::parse::a",
            "sample::dispatch::nested::parse::bbbbbbbb",
            "sample::gen_const::u32::4",
            "sample::gen_const::u32::64",
            "sample::gen_const::u64::4",
            "sample::gen_const::u64::64",
        ]
    );
}

#[test]
fn golden_sample_reads_medians_in_every_unit() {
    let list = parse_table(GOLDEN).unwrap();
    let map = by_path(&list);
    let near = |path: &str, ns: f64| {
        let got = map[path].median_ns;
        assert!((got - ns).abs() < ns * 1e-9, "{path}: {got} != {ns}");
    };
    near("sample::add", 0.653);
    near("sample::bytes_copy", 1_527.0);
    near("sample::sleep_ms", 2_090_000.0);
    near("sample::default_new::u64", 0.003);
    near("sample::gen_const::u64::64", 15.72);
    near("sample::dispatch::nested::items", 61.5);
    assert_eq!(map["sample::tiny_fixed"].samples, 50);
    assert_eq!(map["sample::tiny_fixed"].iters, 50_000);
    assert_eq!(map["sample::vec_sum::1000"].iters, 400);
}

#[test]
fn thread_rows_filter_on_their_bench() {
    let list = parse_table(GOLDEN).unwrap();
    let map = by_path(&list);
    assert_eq!(
        map["sample::contended::t=2"].filter_path,
        "sample::contended"
    );
    assert_eq!(
        map["sample::vec_sum::10"].filter_path,
        "sample::vec_sum::10"
    );
}

#[test]
fn ignored_benches_and_detail_rows_are_not_measurements() {
    let list = parse_table(GOLDEN).unwrap();
    assert!(list.iter().all(|m| !m.path.contains("skipped_by_author")));
    let alloc = parse_table(GOLDEN_ALLOC).unwrap();
    let paths: Vec<&str> = alloc.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["second::allocates", "second::only_in_second"]);
    assert!((alloc[0].median_ns - 79.34).abs() < 1e-9);
}

#[test]
fn no_table_means_no_benches() {
    assert!(parse_table("").unwrap().is_empty());
    assert!(parse_table("\n\n").unwrap().is_empty());
}

#[test]
fn unparsable_rows_are_errors() {
    let header = GOLDEN.lines().next().unwrap();
    let bad_rows = [
        "├─ add   0.5 ns │ 1 ns │ 0.6 ns │ 0.7 ns │ 100",
        "├─ add   0.5 lightyears │ 1 ns │ 0.6 ns │ 0.7 ns │ 100 │ 10",
        "├─ add   0.5 ns │ 1 ns │ fast │ 0.7 ns │ 100 │ 10",
        "├─ add   0.5 ns │ 1 ns │ 0.6 ns │ 0.7 ns │ many │ 10",
        "├─ 0.5 ns │ 1 ns │ 0.6 ns │ 0.7 ns │ 100 │ 10",
        "thread 'main' panicked at src/main.rs:1:1",
        "  ├─ add   0.5 ns │ 1 ns │ 0.6 ns │ 0.7 ns │ 100 │ 10",
    ];
    for row in bad_rows {
        let text = format!("{header}\n{row}\n");
        assert!(parse_table(&text).is_err(), "accepted {row:?}");
    }
}

#[test]
fn structural_errors_are_reported() {
    let row = "├─ add   0.5 ns │ 1 ns │ 0.6 ns │ 0.7 ns │ 100 │ 10";
    assert!(parse_table(row).is_err(), "a row before the header");
    let header = GOLDEN.lines().next().unwrap();
    let twice = format!("{header}\n{row}\n{row}\n");
    let error = parse_table(&twice).unwrap_err();
    assert!(format!("{error:#}").contains("twice"), "{error:#}");
    let orphan = format!("{header}\n│     3.5 GB/s │ 1 GB/s │ 2 GB/s │ 2 GB/s │  │\n");
    assert!(
        parse_table(&orphan).is_err(),
        "a detail row after the header"
    );
    let deep = format!("{header}\n│  ├─ add   0.5 ns │ 1 ns │ 0.6 ns │ 0.7 ns │ 100 │ 10\n");
    assert!(parse_table(&deep).is_err(), "a child without a parent");
}

#[test]
fn durations_convert_to_nanoseconds() {
    assert_eq!(parse_duration_ns("250 ps").unwrap(), 0.25);
    assert_eq!(parse_duration_ns("1.5 ns").unwrap(), 1.5);
    assert_eq!(parse_duration_ns("2.5 µs").unwrap(), 2_500.0);
    assert_eq!(parse_duration_ns("3 ms").unwrap(), 3_000_000.0);
    assert_eq!(parse_duration_ns("1.2 s").unwrap(), 1_200_000_000.0);
    assert!(parse_duration_ns("3 us").is_err());
    assert!(parse_duration_ns("-3 ns").is_err());
    assert!(parse_duration_ns("3ns").is_err());
}

#[test]
fn consistent_slowdown_beyond_threshold_is_a_regression() {
    let ratios = [1.08, 1.07, 1.09, 1.06, 1.10, 1.07, 1.08, 1.07, 1.09, 1.08];
    let a = assess(&ratios, 0.05);
    assert_eq!(a.verdict, Verdict::Regression);
    assert!(
        a.borderline,
        "a regression short of twice the threshold is confirmed"
    );
    assert_eq!((a.slower, a.faster, a.rounds), (10, 0, 10));
    let clear = assess(&ratios.map(|r| r + 0.1), 0.05);
    assert_eq!(clear.verdict, Verdict::Regression);
    assert!(!clear.borderline);
}

#[test]
fn agreement_needs_eighty_percent_of_rounds() {
    let eight_of_ten = [1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 0.9, 0.95];
    assert_eq!(assess(&eight_of_ten, 0.05).verdict, Verdict::Regression);
    let seven_of_ten = [1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 0.9, 0.9, 0.95];
    let a = assess(&seven_of_ten, 0.05);
    assert_eq!(a.verdict, Verdict::Inconclusive);
    assert!(a.borderline, "mixed rounds earn more rounds");
}

#[test]
fn a_few_slow_outliers_do_not_fail() {
    let ratios = [1.0, 0.99, 1.01, 1.6, 0.98, 1.7, 1.0, 0.99, 1.02, 1.0];
    let a = assess(&ratios, 0.05);
    assert_eq!(a.verdict, Verdict::Unchanged);
    assert!(!a.borderline);
}

#[test]
fn consistent_slowdown_just_under_threshold_is_borderline() {
    let ratios = [
        1.04, 1.045, 1.03, 1.04, 1.05, 1.035, 1.04, 1.042, 1.038, 1.041,
    ];
    let a = assess(&ratios, 0.05);
    assert_eq!(a.verdict, Verdict::Unchanged);
    assert!(a.borderline);
    let small = [1.01, 1.02, 1.01, 1.015, 1.01, 1.02, 1.01, 1.02, 1.01, 1.01];
    assert!(!assess(&small, 0.05).borderline);
}

#[test]
fn improvements_are_recognised() {
    let ratios = [0.90, 0.91, 0.89, 0.92, 0.90, 0.88, 0.91, 0.90, 0.93, 0.90];
    assert_eq!(assess(&ratios, 0.05).verdict, Verdict::Improvement);
    let mixed = [0.90, 1.01, 0.89, 1.02, 0.90, 1.03, 0.91, 0.90, 0.93, 0.90];
    assert_eq!(assess(&mixed, 0.05).verdict, Verdict::Unchanged);
}

#[test]
fn no_rounds_is_never_a_regression() {
    let a = assess(&[], 0.05);
    assert_eq!(a.verdict, Verdict::Inconclusive);
    assert!(!a.borderline);
}

#[test]
fn median_of_even_and_odd_lengths() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    assert_eq!(median(&[]), None);
}

#[test]
fn sample_plan_fixes_sizes_for_fast_benches() {
    assert_eq!(sample_plan(0.5), (131_072, 200));
    assert_eq!(sample_plan(250.0), (256, 200));
    assert_eq!(sample_plan(0.0), (1 << 20, 200));
    assert_eq!(sample_plan(20_000.0), (4, 200));
    assert_eq!(sample_plan(50_000.0), (1, 200));
    assert_eq!(sample_plan(5_000_000.0), (1, 20));
    assert_eq!(sample_plan(1e9), (1, 10));
}

#[test]
fn cargo_messages_name_bench_executables() {
    let bench = r#"{"reason":"compiler-artifact","target":{"kind":["bench"],"name":"dispatch"},"executable":"/t/release/deps/dispatch-0a1b"}"#;
    let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"forge_bench"},"executable":"/t/release/deps/forge_bench-9f"}"#;
    let no_exe = r#"{"reason":"compiler-artifact","target":{"kind":["bench"],"name":"x"},"executable":null}"#;
    assert_eq!(
        bench_artifact(bench),
        Some((
            "dispatch".to_owned(),
            PathBuf::from("/t/release/deps/dispatch-0a1b")
        ))
    );
    assert_eq!(bench_artifact(lib), None);
    assert_eq!(bench_artifact(no_exe), None);
    assert_eq!(
        bench_artifact(r#"{"reason":"build-finished","success":true}"#),
        None
    );
    assert_eq!(bench_artifact("not json"), None);
}

#[test]
fn fingerprint_is_stable() {
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn baseline_file_skips_comments() {
    assert_eq!(baseline_rev("# last accepted\n\nabc123\n"), Some("abc123"));
    assert_eq!(baseline_rev("  # only a comment\n"), None);
}

#[test]
fn spin_is_injected_at_the_top_of_dispatch() {
    let source = "impl Dispatcher {\n    pub async fn dispatch_batch(&self) {}\n    \
                  pub async fn dispatch(&self, call: &ToolCall) -> ToolResult {\n        body()\n    }\n}\n";
    let patched = inject_spin(source).unwrap();
    assert!(patched.contains("-> ToolResult { __forge_bench_gate_spin();\n        body()"));
    assert!(
        patched.contains("async fn dispatch_batch(&self) {}"),
        "only dispatch is patched"
    );
    assert!(patched.ends_with("}\n") && patched.contains("fn __forge_bench_gate_spin()"));
    assert!(inject_spin("fn dispatch_batch() {}").is_err());
    assert!(inject_spin("trait T { fn dispatch(&self); }").is_err());
}

#[test]
fn report_lists_regressions_first() {
    let cmp = fake_comparison();
    let text = markdown(
        &cmp,
        &Meta {
            base: "abc1234",
            head: "def5678",
            threshold: 0.05,
        },
    );
    let slow = text.find("`fake::slow`").unwrap();
    let same = text.find("`fake::same`").unwrap();
    assert!(slow < same, "{text}");
    assert!(text.contains("| bench | base | head | ratio | rounds slower | verdict |"));
    assert!(text.contains("**regression**"));
    assert!(text.contains("- `fake::gone` exists only in base"));
    assert_eq!(format_ns(0.653), "0.653 ns");
    assert_eq!(format_ns(1_527.0), "1.527 µs");
    assert_eq!(format_ns(123_456_789.0), "123.5 ms");
}

fn fake_comparison() -> super::runner::Comparison {
    let result = |path: &str, ratio: f64| super::runner::BenchResult {
        path: path.to_owned(),
        base_ns: vec![100.0; 10],
        head_ns: vec![100.0 * ratio; 10],
        assessment: assess(&[ratio; 10], 0.05),
    };
    super::runner::Comparison {
        results: vec![result("fake::same", 1.0), result("fake::slow", 1.2)],
        skipped: vec!["`fake::gone` exists only in base".to_owned()],
        ..Default::default()
    }
}

/// A shell script that prints a divan table whose `fake::slow` median comes
/// from `$FAKE_SLOW_NS` and whose other benches never change.
#[cfg(unix)]
fn fake_divan(dir: &std::path::Path, name: &str, extra_bench: bool) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let extra = if extra_bench {
        "echo '├─ extra    1 ns       │ 2 ns       │ 1 ns       │ 1 ns       │ 100     │ 100'\n"
    } else {
        ""
    };
    let script = format!(
        "#!/bin/sh\n\
         echo 'fake       fastest    │ slowest    │ median     │ mean       │ samples │ iters'\n\
         {extra}\
         echo '├─ same     90 ns      │ 200 ns     │ 100 ns     │ 110 ns     │ 100     │ 6400'\n\
         echo \"╰─ slow     90 ns      │ 200 ns     │ ${{FAKE_SLOW_NS:-100}} ns     │ 110 ns     │ 100     │ 6400\"\n"
    );
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn whole_comparison_flags_only_the_slowed_bench() {
    let dir = std::env::temp_dir().join(format!("bench-gate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let set = |exe: PathBuf, label: &str| BenchSet {
        label: label.to_owned(),
        bins: BTreeMap::from([("fake".to_owned(), exe)]),
    };
    let base = set(fake_divan(&dir, "base", false), "base");
    let head = set(fake_divan(&dir, "head", true), "head");
    let settings = Settings {
        threshold: 0.05,
        rounds: 5,
        max_rounds: 15,
        filter: None,
        verbose: false,
        stage_dir: dir.join("run"),
    };

    let slow_env = vec![("FAKE_SLOW_NS".to_owned(), "108".to_owned())];
    let cmp = compare(
        &Side {
            set: &base,
            env: Vec::new(),
        },
        &Side {
            set: &head,
            env: slow_env,
        },
        &settings,
    )
    .unwrap();
    let verdicts: BTreeMap<&str, Verdict> = cmp
        .results
        .iter()
        .map(|r| (r.path.as_str(), r.assessment.verdict))
        .collect();
    assert_eq!(verdicts["fake::slow"], Verdict::Regression);
    assert_eq!(verdicts["fake::same"], Verdict::Unchanged);
    let rounds: BTreeMap<&str, usize> = cmp
        .results
        .iter()
        .map(|r| (r.path.as_str(), r.assessment.rounds))
        .collect();
    assert_eq!(rounds["fake::same"], 5);
    assert_eq!(
        rounds["fake::slow"], 15,
        "an 8 % regression is confirmed with extra rounds"
    );
    assert_eq!(cmp.skipped, ["`fake::extra` exists only in head (new)"]);
    assert_eq!(Tally::of(&cmp).regressions, 1);

    let near_env = vec![("FAKE_SLOW_NS".to_owned(), "104".to_owned())];
    let cmp = compare(
        &Side {
            set: &base,
            env: Vec::new(),
        },
        &Side {
            set: &head,
            env: near_env,
        },
        &settings,
    )
    .unwrap();
    let slow = cmp.results.iter().find(|r| r.path == "fake::slow").unwrap();
    assert_eq!(slow.assessment.verdict, Verdict::Unchanged);
    assert_eq!(
        slow.assessment.rounds, 15,
        "borderline benches get extra rounds"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cat_file_batch_output_splits_into_blobs() {
    let out = b"aaaa blob 5\nhello\nbbbb blob 0\n\ncccc blob 3\na\nb\n";
    let blobs = parse_batch(out, 3).unwrap();
    assert_eq!(blobs, [b"hello".to_vec(), Vec::new(), b"a\nb".to_vec()]);
    assert!(parse_batch(b"aaaa missing\n", 1).is_err());
    assert!(parse_batch(b"aaaa blob 9\nshort\n", 1).is_err());
}

#[test]
fn exact_regex_escapes_divan_paths() {
    assert_eq!(exact_regex("dispatch::typed"), "^dispatch::typed$");
    assert_eq!(exact_regex("a::f<T>::1.5 (x)"), "^a::f<T>::1\\.5 \\(x\\)$");
}

#[test]
fn materialize_rewrites_only_changes_and_removes_stale_files() {
    let dir = std::env::temp_dir().join(format!("bench-gate-tree-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let file = |path: &str, text: &str| (PathBuf::from(path), text.as_bytes().to_vec());
    let first = Snapshot::from_files(vec![
        file("Cargo.toml", "[workspace]"),
        file("benches/old.rs", "fn main() {}"),
    ]);
    first.materialize(&dir).unwrap();
    let mtime = || {
        std::fs::metadata(dir.join("Cargo.toml"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = mtime();
    std::thread::sleep(std::time::Duration::from_millis(20));

    let mut second = Snapshot::from_files(vec![
        file("Cargo.toml", "[workspace]"),
        file("benches/new.rs", "fn main() { old() }"),
    ]);
    let new = PathBuf::from("benches/new.rs");
    second
        .edit(&new, |text| Ok(text.replace("old", "new")))
        .unwrap();
    second.materialize(&dir).unwrap();
    assert_eq!(mtime(), before, "an unchanged file keeps its mtime");
    assert!(
        !dir.join("benches/old.rs").exists(),
        "a file the snapshot lacks is removed"
    );
    let text = std::fs::read_to_string(dir.join("benches/new.rs")).unwrap();
    assert_eq!(text, "fn main() { new() }");
    assert!(second.find("benches", |t| t.contains("new()")).is_some());
    assert!(
        second
            .edit(&PathBuf::from("missing.rs"), |t| Ok(t.to_owned()))
            .is_err()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spin_calibration_interpolates_between_points() {
    assert_eq!(secant((0.0, 1.0), (100.0, 2.0), 1.07), 7);
    assert_eq!(secant((0.0, 0.99), (20_000.0, 29.0), 1.07), 57);
    assert_eq!(
        secant((0.0, 1.2), (100.0, 2.0), 1.07),
        0,
        "the patch alone is too slow"
    );
    assert_eq!(secant((5.0, 1.1), (5.0, 1.1), 1.07), 0, "no slope");
}

/// A target slowed by nothing for the first 40 spins (they overlap with the
/// surrounding code), then linearly: the search still lands near 7 %.
#[test]
fn refine_finds_the_slowdown_past_a_knee() {
    let curve = |n: u64| 1.0 + (n as f64 - 40.0).max(0.0) * 0.0005;
    let long = (20_000.0, curve(20_000));
    let (spins, ratio) = refine(|n| Ok(curve(n)), ((0.0, 1.0), long), 1.07, 0.0105).unwrap();
    assert!((ratio - 1.07).abs() < 0.0105, "{spins} spins give {ratio}");
    assert_eq!(ratio, curve(spins));
}

/// One noisy measurement that becomes an end of the bracket must not stall
/// the search (plain regula falsi would keep it for every later step).
#[test]
fn refine_recovers_from_an_outlier() {
    let curve = |n: u64| 1.0 + n as f64 * 0.001;
    let mut calls = 0;
    let noisy = |n: u64| {
        calls += 1;
        Ok(if calls == 1 { 1.185 } else { curve(n) })
    };
    let (spins, ratio) = refine(noisy, ((0.0, 1.0), (100.0, 1.1)), 1.07, 0.0105).unwrap();
    assert!((ratio - 1.07).abs() < 0.0105, "{spins} spins give {ratio}");
}
