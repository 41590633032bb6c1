//! Secrets and exposure: a sentinel API key must never appear in `Debug`
//! output, error messages, logs, panic messages or exported telemetry, on
//! success or failure, in-process or from the `forge` binary, not even when
//! a provider echoes it; the exported telemetry holds no prompt by default;
//! and the emulator listens on loopback unless told otherwise.
//!
//! Already covered elsewhere and not repeated here: TLS with an untrusted
//! certificate failing closed (forge-providers `tests/transport.rs`,
//! `https_without_the_ca_fails_closed`) and the file tools' containment
//! (forge-cli `src/tools/files/tests.rs`: `..`, absolute paths, symlinks out,
//! a sibling sharing the root's prefix).
//!
//! The key is read from the environment, and tests may not set variables in
//! their own process, so the in-process checks run in a child copy of this
//! test binary started with the variable set.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is a test failure with a line number"
)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use forge_core::{Message, Model, ModelRequest};
use forge_providers::{Config, ProviderKind};

const SENTINEL: &str = "sk-forge-SENTINEL-7d1f0c2a9b";
const KEY_VAR: &str = "FORGE_TEST_SENTINEL_KEY";
const CHILD_VAR: &str = "FORGE_TEST_SECURITY_CHILD";

/// What forge shows of the echo servers' error bodies: the key masked.
fn masked_echo() -> &'static str {
    "invalid x-api-key [REDACTED]"
}

/// The key must not appear at all, not even where the provider echoed it
/// (finding F2, fixed: forge-providers masks the deployment's key in
/// provider text; its own test is `forge-providers/tests/secrets.rs`).
#[track_caller]
fn assert_no_leak(what: &str, text: &str) {
    let leaks: Vec<&str> = text.lines().filter(|l| l.contains(SENTINEL)).collect();
    assert!(
        leaks.is_empty(),
        "{what} leaked the key:\n{}",
        leaks.join("\n")
    );
}

/// A blocking HTTP/1.1 server on 127.0.0.1 that answers every request with
/// `status` and an error body quoting the key it was sent, the way some
/// providers echo a rejected key. It records whether the key arrived.
struct EchoServer {
    addr: SocketAddr,
    saw_key: Arc<Mutex<u32>>,
}

impl EchoServer {
    fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let saw_key = Arc::new(Mutex::new(0));
        let seen = saw_key.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let seen = seen.clone();
                std::thread::spawn(move || answer(stream, status, &seen));
            }
        });
        Self { addr, saw_key }
    }
}

fn answer(mut stream: TcpStream, status: u16, seen: &Mutex<u32>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    // Headers, then as much body as content-length says.
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    if text.contains(SENTINEL) {
        *seen.lock().unwrap() += 1;
    }
    let body = format!(
        r#"{{"type":"error","error":{{"type":"authentication_error","message":"invalid x-api-key {SENTINEL}","code":{status},"status":"UNAUTHENTICATED"}}}}"#
    );
    let reply = format!(
        "HTTP/1.1 {status} Nope\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
}

fn config_toml(anthropic: SocketAddr, openai: SocketAddr, google: SocketAddr) -> String {
    let common = format!(
        r#"api_key_env = "{KEY_VAR}"
retry = {{ max_retries = 1, initial_backoff = "5ms", max_backoff = "10ms" }}
timeouts = {{ first_chunk = "2s", idle = "2s", total = "5s" }}"#
    );
    format!(
        r#"default = "a"
fallback = ["o", "g"]

[deployments.a]
provider = "anthropic"
model = "claude-test"
base_url = "http://{anthropic}"
{common}

[deployments.o]
provider = "openai"
model = "gpt-test"
base_url = "http://{openai}/v1"
{common}

[deployments.g]
provider = "google"
model = "gemini-test"
base_url = "http://{google}"
{common}
"#
    )
}

/// Captured log output of the child process.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything a user or an operator could see, gathered in one string.
#[derive(Default)]
struct Exposed(String);

impl Exposed {
    fn add(&mut self, what: &str, text: impl std::fmt::Display) {
        self.0.push_str(&format!("--- {what}\n{text}\n"));
    }

    fn error(&mut self, what: &str, error: &(dyn std::error::Error + 'static)) {
        self.add(what, format!("{error}\n{error:?}"));
        let mut source = error.source();
        while let Some(cause) = source {
            self.add(what, format!("caused by: {cause}\n{cause:?}"));
            source = cause.source();
        }
    }
}

fn request() -> ModelRequest {
    let mut request = ModelRequest::new(vec![Message::user("hi")]);
    request.max_tokens = Some(16);
    request
}

/// A failing `complete`, then a conversation (which streams) over `model`.
async fn fail_every_way(exposed: &mut Exposed, model: Arc<dyn Model>, what: &str) {
    let error = model.complete(request()).await.unwrap_err();
    exposed.error(&format!("{what} complete"), &error);
    let registry = forge_dispatch::Registry::builder().build().unwrap();
    let dispatcher = forge_dispatch::Dispatcher::builder(registry).build();
    let agent = forge_agent::Agent::builder(model, dispatcher).build();
    exposed.add(what, format!("{agent:?}"));
    let error = agent
        .run(forge_agent::Conversation::new("hi"))
        .await
        .unwrap_err();
    exposed.error(&format!("{what} stream"), &error);
}

/// Panics the way an application that unwraps a forge error would: the
/// error's `Debug` (`unwrap`) and pretty `Debug` (`{:#?}`) in the panic
/// message. Returns how many panics happened.
async fn panic_with_errors(model: Arc<dyn Model>) -> usize {
    let first = Arc::clone(&model);
    let unwrapped = tokio::spawn(async move {
        first.complete(request()).await.unwrap();
    });
    let pretty = tokio::spawn(async move {
        let error = model.complete(request()).await.unwrap_err();
        panic!("the model failed: {error:#?}");
    });
    let ends = [unwrapped.await, pretty.await];
    ends.iter()
        .filter(|end| end.as_ref().is_err_and(tokio::task::JoinError::is_panic))
        .count()
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ExplodeArgs {
    reason: String,
}

/// A tool that panics.
struct Explode;

impl forge_core::Tool for Explode {
    type Args = ExplodeArgs;
    type Output = String;

    fn name(&self) -> &str {
        "explode"
    }

    fn description(&self) -> &str {
        "Always panics."
    }

    async fn call(&self, args: ExplodeArgs) -> Result<String, forge_core::Error> {
        panic!("tool exploded: {}", args.reason);
    }
}

/// A conversation, over a deployment that sends the key, whose tool panics:
/// the dispatcher turns the panic into a result and the model answers.
async fn tool_panics_mid_conversation(deployment: &forge_providers::DeploymentConfig) -> usize {
    let emulator = forge_emulator::Emulator::builder().start().await.unwrap();
    let mut deployment = deployment.clone();
    deployment.base_url = Some(emulator.anthropic_url());
    let model = forge_providers::connect(&deployment).unwrap();
    let registry = forge_dispatch::Registry::builder()
        .tool(Explode)
        .build()
        .unwrap();
    let dispatcher = forge_dispatch::Dispatcher::builder(registry).build();
    let agent = forge_agent::Agent::builder(model, dispatcher).build();
    let output = agent
        .run(forge_agent::Conversation::new("Please explode."))
        .await
        .unwrap();
    emulator.shutdown().await;
    assert!(output.text.contains("explode"), "{}", output.text);
    1
}

async fn child_checks() -> String {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut exposed = Exposed::default();
    let servers = [401, 500, 429].map(EchoServer::start);
    let config = Config::from_toml_str(&config_toml(
        servers[0].addr,
        servers[1].addr,
        servers[2].addr,
    ))
    .unwrap();
    exposed.add("Config Debug", format!("{config:?} {config:#?}"));
    for (name, deployment) in &config.deployments {
        exposed.add(name, format!("{deployment:?}"));
        let key = deployment.api_key().expect("the child has the key set");
        exposed.add(name, format!("{key:?} {key}"));
    }

    // Each provider alone, against each failing server.
    for kind in [
        ProviderKind::Anthropic,
        ProviderKind::OpenAi,
        ProviderKind::Google,
    ] {
        for server in &servers {
            let mut deployment = config.deployments["a"].clone();
            deployment.provider = kind;
            let suffix = if kind == ProviderKind::OpenAi {
                "/v1"
            } else {
                ""
            };
            deployment.base_url = Some(format!("http://{}{suffix}", server.addr));
            let model = forge_providers::connect(&deployment).unwrap();
            fail_every_way(&mut exposed, model, &format!("{kind:?}@{}", server.addr)).await;
        }
    }

    // The router, with its fallbacks.
    fail_every_way(&mut exposed, config.build().unwrap(), "router").await;

    // Panics while the key is in the process, printed by the default hook
    // to this child's stderr (the parent checks it).
    let mut panics = panic_with_errors(config.build().unwrap()).await;
    for kind in [ProviderKind::OpenAi, ProviderKind::Google] {
        let mut deployment = config.deployments["a"].clone();
        deployment.provider = kind;
        let suffix = if kind == ProviderKind::OpenAi {
            "/v1"
        } else {
            ""
        };
        deployment.base_url = Some(format!("http://{}{suffix}", servers[0].addr));
        panics += panic_with_errors(forge_providers::connect(&deployment).unwrap()).await;
    }
    panics += tool_panics_mid_conversation(&config.deployments["a"]).await;
    assert_eq!(panics, 7, "every planned panic happened");

    let sent: u32 = servers.iter().map(|s| *s.saw_key.lock().unwrap()).sum();
    assert!(
        sent > 0,
        "the sentinel key never reached a server: the test proves nothing"
    );
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.len() > 1000,
        "trace logs were captured: {} bytes",
        logs.len()
    );
    exposed.add("logs", logs);
    exposed.0
}

/// Runs inside the child only (see the module docs); a no-op otherwise.
#[test]
fn child_sentinel_key_paths() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let exposed = rt.block_on(child_checks());
    assert_no_leak("the child", &exposed);
    assert!(
        exposed.contains(masked_echo()),
        "the servers' echo of the key was never seen, masked"
    );
    // The parent checks this marker, so an early return cannot pass silently.
    std::io::stdout()
        .write_all(format!("CHECKED {} bytes\n", exposed.len()).as_bytes())
        .unwrap();
}

#[test]
fn sentinel_key_never_leaks_in_process() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_sentinel_key_paths",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .env(KEY_VAR, SENTINEL)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("CHECKED "),
        "the child ran no checks:\n{stdout}"
    );
    // The child's panics went to its stderr through the default hook.
    assert!(
        stderr.contains("invalid x-api-key [REDACTED]") && stderr.contains("tool exploded"),
        "the panics were not printed:\n{stderr}"
    );
    assert_no_leak("the child's stdout", &stdout);
    assert_no_leak("the child's stderr (panic messages)", &stderr);
}

#[test]
fn sentinel_key_never_leaks_from_the_binary() {
    let servers = [401, 500, 429].map(EchoServer::start);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.toml");
    let toml = config_toml(servers[0].addr, servers[1].addr, servers[2].addr);
    std::fs::write(&path, toml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_forge"))
        .arg("run")
        .arg(&path)
        .args(["--prompt", "hi"])
        .env(KEY_VAR, SENTINEL)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "every deployment fails");
    let sent: u32 = servers.iter().map(|s| *s.saw_key.lock().unwrap()).sum();
    assert!(sent > 0, "the sentinel key never reached a server");
    assert!(stderr.len() > 200, "RUST_LOG=trace produced logs: {stderr}");
    assert_no_leak("stdout", &stdout);
    assert_no_leak("stderr", &stderr);
}

/// The path and body of every request a [`Collector`] received.
type Received = Mutex<Vec<(String, Vec<u8>)>>;

/// A loopback OTLP/HTTP collector: keeps every request's path and body
/// (protobuf, whose strings are raw bytes) and answers 200.
struct Collector {
    addr: SocketAddr,
    requests: Arc<Received>,
}

impl Collector {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || collect(stream, &kept));
            }
        });
        Self { addr, requests }
    }

    /// Every body sent to `path`, concatenated.
    fn bodies(&self, path: &str) -> Vec<u8> {
        let requests = self.requests.lock().unwrap();
        let matching = requests.iter().filter(|(p, _)| p == path);
        matching.flat_map(|(_, body)| body.clone()).collect()
    }
}

/// Serves one keep-alive connection until it closes or idles for 10 s.
fn collect(stream: TcpStream, kept: &Received) {
    use std::io::BufRead as _;

    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(stream);
    // Bounded by the client: each turn reads one request or ends.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut length = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        kept.lock().unwrap().push((path, body));
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Runs `command` to its end, killing it (and failing) after 60 s.
fn finish_within_a_minute(mut command: Command) -> std::process::Output {
    use std::process::Stdio;

    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = std::time::Instant::now();
    // Bounded by the 60 s limit.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("forge did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

const PROMPT_SENTINEL: &str = "PROMPT-SENTINEL-93be01";

/// `forge run CONFIG --otlp URL` with the key set, against the emulator;
/// `capture` sets `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, or
/// leaves it unset. Returns the exported traces and metrics.
fn export_a_run(capture: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime
        .block_on(forge_emulator::Emulator::builder().start())
        .unwrap();
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forge.toml");
    let toml = format!(
        "[deployments.a]\nprovider = \"anthropic\"\nmodel = \"claude-test\"\n\
         base_url = \"{}\"\napi_key_env = \"{KEY_VAR}\"\n",
        emulator.anthropic_url()
    );
    std::fs::write(&path, toml).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_forge"));
    command
        .arg("run")
        .arg(&path)
        .args(["--prompt", &format!("What is 2 + 3? {PROMPT_SENTINEL}")])
        .args(["--otlp", &format!("http://{}", collector.addr)])
        .env(KEY_VAR, SENTINEL)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_METRICS_EXPORTER")
        .env_remove("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT");
    if let Some(capture) = capture {
        command.env(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            capture,
        );
    }
    let output = finish_within_a_minute(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "forge run failed:\n{stderr}");
    runtime.block_on(emulator.shutdown());
    (
        collector.bodies("/v1/traces"),
        collector.bodies("/v1/metrics"),
    )
}

/// What forge-telemetry exports from the binary (spans and metrics, real
/// OTLP/HTTP protobuf) holds neither the key nor, by default, the prompt; a
/// plain string of the run (the model name) is found by the same search.
/// With capture switched on the key still never leaves.
#[test]
fn exported_telemetry_has_no_key_and_no_content_by_default() {
    let (traces, metrics) = export_a_run(None);
    for needle in [
        "invoke_agent",
        "chat",
        "gen_ai.operation.name",
        "claude-test",
    ] {
        assert!(contains(&traces, needle), "{needle} not exported");
    }
    assert!(contains(&metrics, "gen_ai.client.operation.duration"));
    for (what, body) in [("traces", &traces), ("metrics", &metrics)] {
        assert!(!contains(body, SENTINEL), "the key is in the {what}");
        assert!(
            !contains(body, PROMPT_SENTINEL),
            "the prompt is in the {what}"
        );
    }

    let (traces, metrics) = export_a_run(Some("true"));
    assert!(contains(&traces, "claude-test"), "capture on: exported");
    assert!(!contains(&traces, SENTINEL) && !contains(&metrics, SENTINEL));
}

#[tokio::test]
async fn the_emulator_binds_loopback_by_default() {
    let emulator = forge_emulator::Emulator::builder().start().await.unwrap();
    assert!(emulator.addr().ip().is_loopback(), "{}", emulator.addr());
    emulator.shutdown().await;
}

#[test]
fn forge_emulate_listens_on_loopback_by_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_forge"))
        .args(["emulate", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("[default: 127.0.0.1:8787]"), "{help}");
}
