//! The `forge` command line: `run` one conversation, `load` many, or
//! `emulate` the providers offline.
//!
//! With no configuration, `forge run` and `forge load` start the emulator
//! in-process on 127.0.0.1 and need no key and no network:
//!
//! ```text
//! forge run
//! forge run --prompt "Use the calculator for \"2 ^ 10\" and read the clock."
//! forge load --conversations 1000 --concurrency 1000 --provider openai
//! forge load --workload bfcl:BFCL_v4_parallel_multiple.json --provider google
//! forge run --otlp http://127.0.0.1:4318     # or OTEL_EXPORTER_OTLP_ENDPOINT
//! forge emulate --listen 127.0.0.1:8787 --first-token-ms 200
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool talks to its terminal"
)]

mod cli;
mod config;
mod emulate;
mod load;
mod model;
mod run;
mod sys;
mod telemetry;
mod tools;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Raise the open-files soft limit first: 1 000 conversations over
    // HTTP/1.1 to a loopback server need about 2 000 descriptors.
    let nofile = sys::raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("forge: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match telemetry::install(cli.command.export()) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("forge: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let observer = telemetry.dispatch_observer();
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Run(args) => run::run(args, observer).await,
            cli::Command::Load(args) => load::load(args, nofile, observer).await,
            cli::Command::Emulate(args) => emulate::emulate(args).await,
        }
    });
    // Flush after `block_on` has returned: the wait blocks this thread, which
    // is then no longer driving the runtime.
    telemetry.finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("forge: {error:#}");
            ExitCode::FAILURE
        }
    }
}
