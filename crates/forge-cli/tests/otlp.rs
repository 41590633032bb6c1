//! `forge run` and `forge load` export OTLP/HTTP to a collector named by
//! `--otlp` or `OTEL_EXPORTER_OTLP_ENDPOINT`, flush before they exit, and
//! finish in bounded time when the collector is down or silent.
//!
//! The collector here is a minimal HTTP/1.1 server on 127.0.0.1 that answers
//! 200 to every request and keeps each request's path and body. The bodies
//! are protobuf, whose strings are raw bytes, so a byte search finds span
//! names, attribute keys and metric names.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is a test failure with a line number"
)]

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Command, Output, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// The longest a `forge` child may take, collector or not.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// The `OTEL_*` variables a developer's shell might set, cleared on every child.
const OTEL_VARS: [&str; 10] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_METRIC_EXPORT_INTERVAL",
];

/// What the collector does with a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reads each request and answers 200 with an empty body.
    Answer,
    /// Accepts the connection and never answers.
    Silent,
}

/// One request the collector received.
struct Request {
    path: String,
    body: Vec<u8>,
}

/// A loopback OTLP/HTTP collector; stops on drop.
struct Collector {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Collector {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (requests, stop) = (requests.clone(), stop.clone());
            thread::spawn(move || accept(&listener, mode, &requests, &stop))
        };
        Self {
            addr,
            requests,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every body received on `path`, concatenated.
    fn bodies(&self, path: &str) -> Vec<u8> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.path == path)
            .flat_map(|r| r.body.iter().copied())
            .collect()
    }

    fn paths(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests.iter().map(|r| r.path.clone()).collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Accepts until told to stop, polling so that the stop flag is seen.
fn accept(
    listener: &TcpListener,
    mode: Mode,
    requests: &Arc<Mutex<Vec<Request>>>,
    stop: &AtomicBool,
) {
    // Silent connections are held open here until the collector stops.
    let mut held = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => match mode {
                Mode::Answer => {
                    let requests = requests.clone();
                    thread::spawn(move || serve(stream, &requests));
                }
                Mode::Silent => held.push(stream),
            },
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Answers every request on one keep-alive connection until it closes.
fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        requests.lock().unwrap().push(request);
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                      content-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads one request with a `content-length` body; `None` at the end of the
/// connection (or on anything this small server does not speak).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { path, body })
}

/// A `forge` command with no `OTEL_*` or `RUST_LOG` from the caller's shell,
/// speaking OTLP/HTTP with protobuf bodies.
fn forge(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_forge"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG");
    for name in OTEL_VARS {
        command.env_remove(name);
    }
    command.env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
    command
}

/// Runs the child to the end, killing it (and failing) after [`CHILD_LIMIT`].
fn finish(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the forge binary starts");
    // Drain both pipes on their own threads so the child never blocks on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!("forge did not exit within {CHILD_LIMIT:?}; stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs the child and requires it to succeed.
fn succeed(command: Command) -> Output {
    let output = finish(command);
    assert!(
        output.status.success(),
        "forge failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The spans of an agent run, and the metrics from both the spans and the
/// dispatch observer, reached the collector.
fn assert_exported(collector: &Collector) {
    let traces = collector.bodies("/v1/traces");
    let metrics = collector.bodies("/v1/metrics");
    let paths = collector.paths();
    assert!(!traces.is_empty(), "no /v1/traces request: {paths:?}");
    assert!(!metrics.is_empty(), "no /v1/metrics request: {paths:?}");
    for needle in [
        "invoke_agent",
        "chat",
        "execute_tool",
        "gen_ai.operation.name",
        "gen_ai.tool.name",
        "service.name",
    ] {
        assert!(
            contains(&traces, needle),
            "{needle} missing from the traces"
        );
    }
    for needle in [
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        // Recorded only by the dispatch observer: proves it is attached.
        "gen_ai.execute_tool.duration",
        "forge.tool.dispatches",
    ] {
        assert!(
            contains(&metrics, needle),
            "{needle} missing from the metrics"
        );
    }
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn run_exports_traces_and_metrics_with_otlp_flag_and_keeps_rust_log_output() {
    let collector = Collector::start(Mode::Answer);
    let mut command = forge(&["run", "--otlp", &collector.url()]);
    command.env("RUST_LOG", "forge_agent=info");
    let output = succeed(command);

    assert_exported(&collector);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("395"), "the answer still streams: {stdout}");
    // The fmt layer still prints each span as it closes.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invoke_agent") && stderr.contains("close"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn run_exports_to_the_endpoint_named_by_the_environment() {
    let collector = Collector::start(Mode::Answer);
    let mut command = forge(&["run", "--provider", "openai"]);
    command.env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url());
    succeed(command);
    assert_exported(&collector);
}

#[test]
fn load_exports_and_the_flag_overrides_the_environment() {
    let collector = Collector::start(Mode::Answer);
    let mut command = forge(&[
        "load",
        "--quiet",
        "--conversations",
        "5",
        "--concurrency",
        "5",
        "--otlp",
        &collector.url(),
    ]);
    let unused = format!("http://127.0.0.1:{}", closed_port());
    command.env("OTEL_EXPORTER_OTLP_ENDPOINT", unused);
    let output = succeed(command);

    assert_exported(&collector);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("conversations"), "the report: {stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn content_is_exported_only_when_capture_is_switched_on() {
    const PROMPT: &str = "Use the calculator for \"6 * 7\" (sentinel-prompt-5d1c).";

    let off = Collector::start(Mode::Answer);
    succeed(forge(&["run", "--otlp", &off.url(), "--prompt", PROMPT]));
    assert_exported(&off);
    assert!(!contains(&off.bodies("/v1/traces"), "sentinel-prompt-5d1c"));

    let on = Collector::start(Mode::Answer);
    let mut command = forge(&["run", "--otlp", &on.url(), "--prompt", PROMPT]);
    command.env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");
    succeed(command);
    let traces = on.bodies("/v1/traces");
    for needle in [
        "sentinel-prompt-5d1c",
        "gen_ai.input.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ] {
        assert!(
            contains(&traces, needle),
            "{needle} missing with capture on"
        );
    }
}

#[test]
fn an_unreachable_collector_costs_one_warning_not_the_run() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let output = succeed(forge(&["run", "--otlp", &url]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("395"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings = stderr.lines().filter(|l| l.contains("warning")).count();
    assert_eq!(warnings, 1, "{stderr}");
}

#[test]
fn a_silent_collector_is_cut_off_by_the_export_timeout() {
    let collector = Collector::start(Mode::Silent);
    let mut command = forge(&["run", "--otlp", &collector.url()]);
    command.env("OTEL_EXPORTER_OTLP_TIMEOUT", "300");
    let output = succeed(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings = stderr.lines().filter(|l| l.contains("warning")).count();
    assert_eq!(warnings, 1, "{stderr}");
}

#[test]
fn an_invalid_endpoint_is_refused_before_the_run() {
    let output = finish(forge(&["run", "--otlp", "127.0.0.1:4318"]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("http://"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing ran");
}
