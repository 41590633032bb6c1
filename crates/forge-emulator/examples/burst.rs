//! Fires a burst of concurrent streaming conversations at an in-process
//! emulator over one h2c connection and prints wall time, process CPU time
//! and peak RSS (Linux `/proc`), as an upper bound of the emulator's own cost.
//!
//! ```text
//! cargo run --release -p forge-emulator --example burst -- 1000 200 1
//! ```
//! (arguments: conversations, time to first token and delay between tokens
//! in milliseconds).

#![allow(clippy::print_stdout, reason = "an example reports on stdout")]

use std::{
    error::Error,
    time::{Duration, Instant},
};

use bytes::Bytes;
use forge_emulator::{Emulator, Latency};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let ttft: u64 = args.next().map_or(Ok(200), |a| a.parse())?;
    let gap: u64 = args.next().map_or(Ok(1), |a| a.parse())?;
    let latency = Latency {
        first_token: Duration::from_millis(ttft),
        between_tokens: Duration::from_millis(gap),
        answer_words: 40,
    };
    let emulator = Emulator::builder().latency(latency).start().await?;
    let stream = tokio::net::TcpStream::connect(emulator.addr()).await?;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(connection);

    let (cpu0, started) = (cpu_seconds(), Instant::now());
    let mut tasks = Vec::with_capacity(count);
    for index in 0..count {
        tasks.push(tokio::spawn(one(sender.clone(), index)));
    }
    let mut bytes = 0;
    for task in tasks {
        bytes += task.await??;
    }
    let wall = started.elapsed();
    let cpu = cpu_seconds() - cpu0;
    println!("conversations: {count}, first token: {ttft} ms, between tokens: {gap} ms");
    println!("wall: {:.3} s, body bytes: {bytes}", wall.as_secs_f64());
    println!(
        "process CPU (client + emulator): {:.3} s = {:.1} us per request",
        cpu,
        cpu * 1e6 / count as f64
    );
    println!("peak RSS: {} KiB", peak_rss_kib());
    emulator.shutdown().await;
    Ok(())
}

async fn one(
    mut sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    index: usize,
) -> Result<usize, BoxError> {
    let body = format!(
        r#"{{"model":"claude","max_tokens":400,"stream":true,"messages":[{{"role":"user","content":"question number {index}"}}]}}"#
    );
    let request = http::Request::post("/v1/messages")
        .header("anthropic-version", "2023-06-01")
        .header("x-forge-conversation-id", format!("burst-{index}"))
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(body.len())
}

/// User + system CPU seconds of this process, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // After the command name: state is field 3, utime 14, stime 15.
    let ticks = |at: usize| fields.get(at - 3).and_then(|f| f.parse::<f64>().ok());
    (ticks(14).unwrap_or(0.0) + ticks(15).unwrap_or(0.0)) / 100.0
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
