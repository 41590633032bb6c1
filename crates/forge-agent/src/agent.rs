//! The agent: a model, a dispatcher and the settings every conversation shares.

use std::{sync::Arc, time::Duration};

use forge_core::{Message, Model, ToolSpec};
use forge_dispatch::Dispatcher;

/// A model, its tools and the rules of a conversation; cheap to clone.
///
/// One agent serves any number of concurrent conversations: each
/// [`Agent::run`] owns its transcript and shares only the model, the
/// dispatcher and these settings.
#[derive(Clone)]
pub struct Agent {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) model: Arc<dyn Model>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) specs: Arc<[ToolSpec]>,
    pub(crate) settings: Settings,
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: Arc<str>,
    pub(crate) provider: Option<Arc<str>>,
    pub(crate) system: Option<String>,
    pub(crate) model_name: Option<String>,
    pub(crate) route: Option<String>,
    pub(crate) max_steps: u32,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) temperature: Option<f32>,
    pub(crate) token_budget: Option<u64>,
    pub(crate) stop_tools: Vec<String>,
    pub(crate) invalid_per_call: u32,
    pub(crate) invalid_per_run: u32,
    pub(crate) request_timeout: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: Arc::from("forge"),
            provider: None,
            system: None,
            model_name: None,
            route: None,
            max_steps: 8,
            max_tokens: Some(1024),
            temperature: None,
            token_budget: None,
            stop_tools: Vec::new(),
            invalid_per_call: 2,
            invalid_per_run: 4,
            request_timeout: None,
        }
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("settings", &self.inner.settings)
            .field("tools", &self.inner.specs.len())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Starts building an agent over `model` and the tools `dispatcher` runs.
    pub fn builder(model: Arc<dyn Model>, dispatcher: Dispatcher) -> AgentBuilder {
        AgentBuilder {
            model,
            dispatcher,
            settings: Settings::default(),
        }
    }

    /// The agent's name, as in `gen_ai.agent.name`.
    pub fn name(&self) -> &str {
        &self.inner.settings.name
    }

    /// The tools offered to the model.
    pub fn tools(&self) -> &Arc<[ToolSpec]> {
        &self.inner.specs
    }
}

/// Configures an [`Agent`].
#[must_use]
pub struct AgentBuilder {
    model: Arc<dyn Model>,
    dispatcher: Dispatcher,
    settings: Settings,
}

impl AgentBuilder {
    /// The agent's name (default `forge`), reported in spans.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.settings.name = name.into();
        self
    }

    /// The provider label (`anthropic`, `openai`, `gcp.gemini`) for spans and
    /// dispatch labels.
    pub fn provider(mut self, provider: impl Into<Arc<str>>) -> Self {
        self.settings.provider = Some(provider.into());
        self
    }

    /// The system prompt.
    pub fn system(mut self, system: impl Into<String>) -> Self {
        self.settings.system = Some(system.into());
        self
    }

    /// Overrides the deployment's model name.
    pub fn model_name(mut self, model: impl Into<String>) -> Self {
        self.settings.model_name = Some(model.into());
        self
    }

    /// The route tag a router matches.
    pub fn route(mut self, route: impl Into<String>) -> Self {
        self.settings.route = Some(route.into());
        self
    }

    /// The most model calls per conversation (default 8, at least 1).
    pub fn max_steps(mut self, steps: u32) -> Self {
        self.settings.max_steps = steps.max(1);
        self
    }

    /// The output token limit of each model call (default 1024).
    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.settings.max_tokens = Some(tokens);
        self
    }

    /// The sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.settings.temperature = Some(temperature);
        self
    }

    /// Stops a conversation once its input plus output tokens reach `tokens`.
    pub fn token_budget(mut self, tokens: u64) -> Self {
        self.settings.token_budget = Some(tokens);
        self
    }

    /// Stops a conversation after the turn in which the model calls `tool`.
    pub fn stop_on_tool(mut self, tool: impl Into<String>) -> Self {
        self.settings.stop_tools.push(tool.into());
        self
    }

    /// How many times in a row one tool may be called with invalid arguments
    /// before the conversation fails (default 2 retries).
    pub fn invalid_retries_per_call(mut self, retries: u32) -> Self {
        self.settings.invalid_per_call = retries;
        self
    }

    /// How many invalid tool calls one conversation may make in all before
    /// it fails (default 4).
    pub fn invalid_retries_per_run(mut self, retries: u32) -> Self {
        self.settings.invalid_per_run = retries;
        self
    }

    /// The longest one model call may take, retries included.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = Some(timeout);
        self
    }

    /// Builds the agent.
    pub fn build(self) -> Agent {
        let specs = self.dispatcher.specs();
        let inner = Inner {
            model: self.model,
            dispatcher: self.dispatcher,
            specs,
            settings: self.settings,
        };
        Agent {
            inner: Arc::new(inner),
        }
    }
}

/// The input of one conversation: its id and the messages so far.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// Sent to the provider as the conversation id (the emulator keys scripts on it).
    pub id: Option<String>,
    /// The messages so far; usually one user message.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// A conversation that starts with one user message.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self::from_messages(vec![Message::user(prompt)])
    }

    /// A conversation that continues `messages`.
    pub fn from_messages(messages: Vec<Message>) -> Self {
        Self { id: None, messages }
    }

    /// Sets the conversation id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}
