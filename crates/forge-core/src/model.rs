//! The object-safe model trait and its request and response.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures_core::Stream;

use crate::{Content, Error, Message, StopReason, StreamEvent, ToolSpec, Usage};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed stream of model events; an `Err` item ends the stream.
pub type EventStream<'a> = Pin<Box<dyn Stream<Item = Result<StreamEvent, Error>> + Send + 'a>>;

/// A language model: a provider adapter, a router, or a test double.
///
/// Object safe, so agents hold an `Arc<dyn Model>` and never know which one.
pub trait Model: Send + Sync {
    /// Sends `request` and waits for the whole answer.
    ///
    /// # Errors
    ///
    /// Every failure is classified by [`Error::kind`]; retries, limits and
    /// fallback happen inside the implementation.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; nothing is left running.
    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>>;

    /// Sends `request` and streams the answer as it arrives.
    ///
    /// The stream ends after [`StreamEvent::Finish`], or after its first `Err`
    /// item. A stream that ends without either was cut short by the consumer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream abandons the request and releases its connection.
    fn stream(&self, request: ModelRequest) -> EventStream<'_>;
}

/// What to send to a model.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// Overrides the deployment's model name.
    pub model: Option<String>,
    /// The system prompt.
    pub system: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The tools the model may call.
    pub tools: Arc<[ToolSpec]>,
    /// The output token limit.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// A tag routers match rules against.
    pub route: Option<String>,
    /// The conversation id, sent to the server (the emulator keys scripts on it).
    pub conversation_id: Option<String>,
    /// The longest the whole request may take, retries included.
    pub timeout: Option<Duration>,
}

impl ModelRequest {
    /// A request carrying `messages` and nothing else.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    /// Sets the system prompt.
    #[must_use]
    pub fn system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(system.into());
        self
    }

    /// Sets the tools offered.
    #[must_use]
    pub fn tools(mut self, tools: impl Into<Arc<[ToolSpec]>>) -> Self {
        self.tools = tools.into();
        self
    }

    /// Sets the output token limit.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the model name.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets the route tag.
    #[must_use]
    pub fn route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }

    /// Sets the conversation id.
    #[must_use]
    pub fn conversation_id(mut self, id: impl Into<String>) -> Self {
        self.conversation_id = Some(id.into());
        self
    }

    /// Sets the overall timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A rough prompt size in tokens (bytes / 4), for routing rules.
    pub fn estimated_prompt_tokens(&self) -> usize {
        let system = self.system.as_ref().map_or(0, String::len);
        let messages: usize = self.messages.iter().map(|m| m.text().len()).sum();
        (system + messages).div_ceil(4)
    }
}

/// A model's whole answer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResponse {
    /// The provider's response id.
    pub id: Option<String>,
    /// The model that answered, as the provider named it.
    pub model: Option<String>,
    /// Text, thinking and tool calls, in order.
    pub content: Vec<Content>,
    /// Why generation stopped.
    pub stop_reason: StopReason,
    /// Tokens used.
    pub usage: Usage,
}

impl ModelResponse {
    /// A response with `content` and `stop_reason` and nothing else.
    pub fn new(content: Vec<Content>, stop_reason: StopReason) -> Self {
        Self {
            id: None,
            model: None,
            content,
            stop_reason,
            usage: Usage::default(),
        }
    }

    /// The response as an assistant [`Message`].
    pub fn to_message(&self) -> Message {
        Message::assistant(self.content.clone())
    }
}
