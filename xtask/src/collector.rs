//! A real OTLP collector for forge-telemetry's collector tests.
//!
//! `cargo xtask test` installs rotel (an OTLP collector shipped in a Python
//! wheel) into a virtualenv under the target directory, starts it on free
//! loopback ports with its debug exporter printing every span and metric to a
//! file, runs `forge-telemetry`'s `collector` tests with the ports and the file
//! in the environment, and stops it. The install is cached: a second run
//! reuses the virtualenv.

use std::{
    fs::{self, File},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{Context, Result, bail};

/// The rotel release the tests are written against.
const ROTEL: &str = "rotel==0.0.1a15";

/// Installs and starts rotel, runs the collector tests against it, stops it.
pub(crate) fn run_tests() -> Result<()> {
    let dir = target_dir().join("rotel");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let agent = install(&dir)?;
    let rotel = Rotel::start(&agent, &dir)?;
    let result = cargo_test(&rotel);
    drop(rotel);
    result
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    let dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    dir.canonicalize().unwrap_or(dir)
}

/// Creates the virtualenv and installs rotel unless a previous run did.
fn install(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("forge-installed");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(ROTEL) {
        println!("$ python3 -m venv {}", venv.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        println!("$ pip install {ROTEL}");
        run(Command::new(&python).args(["-m", "pip", "install", "--quiet", ROTEL]))?;
        fs::write(&stamp, ROTEL).context("cannot write the install stamp")?;
    }
    let output = Command::new(&python)
        .args([
            "-c",
            "import os, rotel; print(os.path.dirname(rotel.__file__))",
        ])
        .output()
        .context("cannot run the virtualenv's python")?;
    if !output.status.success() {
        bail!(
            "rotel is not importable: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let package = String::from_utf8(output.stdout).context("package path is not UTF-8")?;
    let agent = Path::new(package.trim()).join("rotel-agent");
    if !agent.is_file() {
        bail!("{} is missing from the rotel package", agent.display());
    }
    Ok(agent)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// A running rotel; killed when dropped.
struct Rotel {
    child: Child,
    grpc: SocketAddr,
    http: SocketAddr,
    output: PathBuf,
}

impl Rotel {
    fn start(agent: &Path, dir: &Path) -> Result<Self> {
        let (grpc, http) = (free_port()?, free_port()?);
        let output = dir.join("rotel-output.txt");
        let stdout = File::create(&output).context("cannot create rotel's output file")?;
        let stderr = stdout
            .try_clone()
            .context("cannot share rotel's output file")?;
        println!(
            "$ rotel-agent start (gRPC {grpc}, HTTP {http}) > {}",
            output.display()
        );
        let child = Command::new(agent)
            .arg("start")
            .args(["--exporter", "blackhole"])
            .args(["--debug-log", "traces", "--debug-log", "metrics"])
            .args(["--debug-log-verbosity", "detailed"])
            .arg("--otlp-grpc-endpoint")
            .arg(grpc.to_string())
            .arg("--otlp-http-endpoint")
            .arg(http.to_string())
            .arg("--pid-file")
            .arg(dir.join("rotel-agent.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel-agent.log"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {}", agent.display()))?;
        let mut rotel = Self {
            child,
            grpc,
            http,
            output,
        };
        rotel.wait_until_listening()?;
        Ok(rotel)
    }

    /// Waits (at most 10 s) until both ports accept connections.
    fn wait_until_listening(&mut self) -> Result<()> {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait()? {
                let log = fs::read_to_string(&self.output).unwrap_or_default();
                bail!("rotel exited early ({status}):\n{log}");
            }
            let timeout = Duration::from_millis(100);
            let up = |addr| TcpStream::connect_timeout(addr, timeout).is_ok();
            if up(&self.grpc) && up(&self.http) {
                return Ok(());
            }
            thread::sleep(timeout);
        }
        bail!(
            "rotel did not listen on {} and {} within 10 s",
            self.grpc,
            self.http
        )
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        // Already exited is fine; anything else is a leaked process we report.
        if let Err(error) = self.child.kill() {
            eprintln!("xtask: stopping rotel: {error}");
        }
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?)
}

/// Runs forge-telemetry's collector tests against `rotel`.
fn cargo_test(rotel: &Rotel) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let args = [
        "test",
        "-p",
        "forge-telemetry",
        "--features",
        "collector-tests",
        "--test",
        "collector",
    ];
    println!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .env("FORGE_OTLP_GRPC_ENDPOINT", format!("http://{}", rotel.grpc))
        .env("FORGE_OTLP_HTTP_ENDPOINT", format!("http://{}", rotel.http))
        .env("FORGE_ROTEL_OUTPUT", &rotel.output)
        // A sentinel the tests send as the API key and expect never to be exported.
        .env("FORGE_TEST_API_KEY", "sk-forge-sentinel-key-0d6f1b")
        .status()
        .with_context(|| format!("could not start {cargo}"))?;
    if !status.success() {
        bail!("the collector tests failed: {status}");
    }
    Ok(())
}
