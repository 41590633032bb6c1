//! Tools shared by the integration tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicUsize, Ordering},
    },
    time::Duration,
};

use forge_core::{BoxFuture, DynTool, Error, ErrorKind, Tool, ToolOptions, ToolSpec};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// How a lookup matches.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    Exact,
    Prefix,
    Fuzzy,
}

/// The arguments of [`Lookup`]: a string, an enum and a bounded integer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupArgs {
    #[schemars(length(min = 1, max = 64))]
    pub(crate) query: String,
    pub(crate) mode: Mode,
    #[schemars(range(min = 1, max = 100))]
    pub(crate) limit: u32,
    #[serde(default)]
    #[schemars(length(max = 3))]
    pub(crate) tags: Vec<String>,
}

/// A typed tool that answers at once.
pub(crate) struct Lookup;

impl Tool for Lookup {
    type Args = LookupArgs;
    type Output = String;

    fn name(&self) -> &str {
        "lookup"
    }

    fn description(&self) -> &str {
        "Looks a word up."
    }

    async fn call(&self, args: LookupArgs) -> Result<String, Error> {
        Ok(format!("{}:{:?}:{}", args.query, args.mode, args.limit))
    }
}

/// A dynamic tool with an equivalent hand-written schema plus a pattern.
pub(crate) struct Echo {
    spec: ToolSpec,
}

impl Echo {
    pub(crate) fn new() -> Arc<Self> {
        let schema = json!({
            "type": "object",
            "properties": {
                "text": { "type": "string", "maxLength": 16, "pattern": "^[a-z ]*$" },
                "times": { "type": "integer", "minimum": 1, "maximum": 3 },
                "items": { "type": "array", "items": { "type": "integer" }, "maxItems": 2 }
            },
            "required": ["text"],
            "additionalProperties": false
        });
        Arc::new(Self {
            spec: ToolSpec::new("echo", "Repeats text.", schema),
        })
    }
}

impl DynTool for Echo {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value) -> BoxFuture<'_, Result<Value, Error>> {
        Box::pin(async move { Ok(args["text"].clone()) })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct NoArgs {}

/// Fails with a retryable error until its `fail_times` are used up.
pub(crate) struct Flaky {
    pub(crate) name: &'static str,
    pub(crate) fail_times: u32,
    pub(crate) calls: Arc<AtomicU32>,
    pub(crate) options: ToolOptions,
    pub(crate) retryable: bool,
}

impl Flaky {
    pub(crate) fn new(name: &'static str, fail_times: u32) -> Self {
        Self {
            name,
            fail_times,
            calls: Arc::new(AtomicU32::new(0)),
            options: ToolOptions::default(),
            retryable: true,
        }
    }
}

impl Tool for Flaky {
    type Args = NoArgs;
    type Output = u32;

    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "Fails a few times."
    }

    fn options(&self) -> ToolOptions {
        self.options
    }

    async fn call(&self, _: NoArgs) -> Result<u32, Error> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.fail_times {
            Err(Error::tool("backend busy").retryable(self.retryable))
        } else {
            Ok(n)
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SleepArgs {
    pub(crate) ms: u64,
    #[serde(default)]
    pub(crate) panic: bool,
}

/// Sleeps `ms` (tokio time), tracking how many run at once.
pub(crate) struct Sleepy {
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) max_in_flight: Arc<AtomicUsize>,
    pub(crate) finished: Arc<AtomicUsize>,
    pub(crate) timeout: Option<Duration>,
}

impl Sleepy {
    pub(crate) fn new() -> Self {
        Self {
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            finished: Arc::default(),
            timeout: None,
        }
    }
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Tool for Sleepy {
    type Args = SleepArgs;
    type Output = u64;

    fn name(&self) -> &str {
        "sleep"
    }

    fn description(&self) -> &str {
        "Sleeps."
    }

    fn options(&self) -> ToolOptions {
        match self.timeout {
            Some(t) => ToolOptions::default().timeout(t),
            None => ToolOptions::default(),
        }
    }

    async fn call(&self, args: SleepArgs) -> Result<u64, Error> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(Arc::clone(&self.in_flight));
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        assert!(!args.panic, "asked to panic");
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(args.ms)
    }
}

/// Returns `bytes` bytes of JSON string.
pub(crate) struct Big;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct BigArgs {
    pub(crate) bytes: usize,
}

impl Tool for Big {
    type Args = BigArgs;
    type Output = String;

    fn name(&self) -> &str {
        "big"
    }

    fn description(&self) -> &str {
        "Returns a big string."
    }

    async fn call(&self, args: BigArgs) -> Result<String, Error> {
        Ok("x".repeat(args.bytes))
    }
}

/// Fails with a non-retryable error of its own kind.
pub(crate) struct Broken;

impl Tool for Broken {
    type Args = NoArgs;
    type Output = ();

    fn name(&self) -> &str {
        "broken"
    }

    fn description(&self) -> &str {
        "Always fails."
    }

    async fn call(&self, _: NoArgs) -> Result<(), Error> {
        Err(Error::new(ErrorKind::NotFound, "no such record"))
    }
}
