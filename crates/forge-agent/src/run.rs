//! The conversation loop.
//!
//! Implementation details: a [`Run`] owns one conversation's transcript and
//! counters and borrows everything shared from the [`Agent`]. Each step
//! streams one model call into a [`ResponseBuilder`], appends the assistant
//! turn, then answers every tool call of that turn (by dispatching them, or
//! as "not run" when a limit stops the conversation) before it either stops
//! or calls the model again. Nothing is spawned: dropping the future drops
//! the model stream and every tool future with it.

use std::time::Instant;

use forge_core::{
    Content, ErrorKind, Labels, Message, ModelRequest, ModelResponse, ResponseBuilder, StreamEvent,
    ToolCall, ToolResult, Usage,
};
use futures_util::StreamExt;
use tracing::{Instrument, Span, field::Empty};

use crate::{
    Agent, AgentEvent, Conversation, Error, EventSink, NoEvents, RunOutput, StopCause, TurnReport,
    agent::Inner, budget::InvalidBudget, content::ChatContent, tools,
};

impl Agent {
    /// Runs one conversation to its end.
    ///
    /// # Errors
    ///
    /// A model call failed (its kind is kept), a stream ended without its
    /// finish event, or the model exhausted a retry budget for invalid tool
    /// calls. Tool failures are not errors: they go back to the model.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the conversation: the model request and
    /// every tool call in flight are dropped with it, and nothing keeps running.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(agent: forge_agent::Agent) -> Result<(), forge_agent::Error> {
    /// use forge_agent::Conversation;
    ///
    /// let output = agent.run(Conversation::new("What is 2 + 2?")).await?;
    /// println!("{}", output.text);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run(&self, conversation: Conversation) -> Result<RunOutput, Error> {
        self.run_with_events(conversation, &NoEvents).await
    }

    /// Runs one conversation, reporting progress to `events` as it happens.
    ///
    /// # Errors
    ///
    /// As for [`Agent::run`].
    ///
    /// # Cancel safety
    ///
    /// As for [`Agent::run`]: dropping the future cancels the conversation.
    pub async fn run_with_events(
        &self,
        conversation: Conversation,
        events: &dyn EventSink,
    ) -> Result<RunOutput, Error> {
        let span = self.agent_span(conversation.id.as_deref());
        let run = Run::new(&self.inner, conversation, events, span.clone());
        let result = run.drive().instrument(span.clone()).await;
        if let Err(error) = &result {
            span.record("error.type", error.kind().as_str());
            span.record("otel.status_code", "ERROR");
        }
        result
    }

    fn agent_span(&self, conversation: Option<&str>) -> Span {
        let settings = &self.inner.settings;
        // Absent options record nothing; everything known is set at start.
        tracing::info_span!(
            target: "forge_agent",
            "invoke_agent",
            otel.name = %format_args!("invoke_agent {}", settings.name),
            otel.kind = "internal",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.provider.name = settings.provider.as_deref(),
            gen_ai.agent.name = &*settings.name,
            gen_ai.conversation.id = conversation,
            error.type = Empty,
            otel.status_code = Empty,
        )
    }
}

/// One conversation in progress.
struct Run<'a> {
    agent: &'a Inner,
    events: &'a dyn EventSink,
    span: Span,
    labels: Labels,
    conversation_id: Option<String>,
    messages: Vec<Message>,
    usage: Usage,
    turns: Vec<TurnReport>,
    tool_calls: u32,
    budget: InvalidBudget,
}

impl<'a> Run<'a> {
    fn new(
        agent: &'a Inner,
        conversation: Conversation,
        events: &'a dyn EventSink,
        span: Span,
    ) -> Self {
        let settings = &agent.settings;
        let mut labels = Labels::default();
        labels.provider = settings.provider.clone();
        labels.conversation = conversation.id.as_deref().map(Into::into);
        Self {
            agent,
            events,
            span,
            labels,
            conversation_id: conversation.id,
            messages: conversation.messages,
            usage: Usage::default(),
            turns: Vec::new(),
            tool_calls: 0,
            budget: InvalidBudget::new(settings.invalid_per_call, settings.invalid_per_run),
        }
    }

    async fn drive(mut self) -> Result<RunOutput, Error> {
        loop {
            let step = self.step();
            let response = self.model_turn(step).await?;
            let calls = tool_calls_of(&response.content);
            self.messages.push(Message::assistant(response.content));
            if calls.is_empty() {
                return Ok(self.finish(StopCause::FinalAnswer));
            }
            if let Some(cause) = self.limit_reached(step) {
                self.answer_not_run(&calls, &cause);
                return Ok(self.finish(cause));
            }
            let results = self.dispatch(&calls).await;
            let stop = self.stop_tool_result(&results);
            let exhausted = self.budget.record_all(&results);
            self.messages.push(Message::tool_results(results));
            if let Some((kind, message)) = exhausted {
                return Err(Error::retry_budget(kind, message, step));
            }
            if let Some(result) = stop {
                return Ok(self.finish(StopCause::StopTool(result)));
            }
        }
    }

    fn step(&self) -> u32 {
        u32::try_from(self.turns.len()).map_or(u32::MAX, |n| n + 1)
    }

    /// Streams one model call and folds it into a response.
    async fn model_turn(&mut self, step: u32) -> Result<ModelResponse, Error> {
        self.events.on_event(&AgentEvent::TurnStarted { step });
        let agent = self.agent;
        let started = Instant::now();
        let mut stream = agent.model.stream(self.request());
        let mut builder = ResponseBuilder::default();
        let mut first_token = None;
        let mut content = ChatContent::start();
        let system = agent.settings.system.as_deref();
        while let Some(item) = stream.next().await {
            content.observe(item.as_ref().ok(), system, &self.messages);
            let event = item.map_err(|error| Error::model(error, step))?;
            if first_token.is_none() && event.is_content() {
                first_token = Some(started.elapsed());
            }
            self.forward(&event);
            builder.push(event);
        }
        drop(stream);
        let response = builder
            .finish()
            .ok_or_else(|| Error::truncated_stream(step))?;
        self.record_turn(step, started, first_token, &response);
        Ok(response)
    }

    fn request(&self) -> ModelRequest {
        let settings = &self.agent.settings;
        let mut request = ModelRequest::new(self.messages.clone());
        request.system.clone_from(&settings.system);
        request.model.clone_from(&settings.model_name);
        request.route.clone_from(&settings.route);
        request.tools = self.agent.specs.clone();
        request.max_tokens = settings.max_tokens;
        request.temperature = settings.temperature;
        request.conversation_id.clone_from(&self.conversation_id);
        request.timeout = settings.request_timeout;
        request
    }

    fn forward(&self, event: &StreamEvent) {
        let event = match event {
            StreamEvent::TextDelta { text, .. } => AgentEvent::TextDelta(text),
            StreamEvent::ThinkingDelta { text } => AgentEvent::ThinkingDelta(text),
            StreamEvent::ToolCallStart { id, name } => AgentEvent::ToolCallStarted { id, name },
            _ => return,
        };
        self.events.on_event(&event);
    }

    fn record_turn(
        &mut self,
        step: u32,
        started: Instant,
        first_token: Option<std::time::Duration>,
        response: &ModelResponse,
    ) {
        let tool_calls = response.content.iter();
        let tool_calls = tool_calls
            .filter(|c| matches!(c, Content::ToolCall(_)))
            .count();
        let report = TurnReport {
            step,
            duration: started.elapsed(),
            time_to_first_token: first_token,
            tool_calls: u32::try_from(tool_calls).unwrap_or(u32::MAX),
            stop_reason: response.stop_reason.clone(),
            usage: response.usage,
        };
        self.usage += response.usage;
        self.events.on_event(&AgentEvent::TurnFinished(&report));
        self.turns.push(report);
    }

    fn limit_reached(&self, step: u32) -> Option<StopCause> {
        let settings = &self.agent.settings;
        if settings
            .token_budget
            .is_some_and(|b| self.usage.total() >= b)
        {
            return Some(StopCause::TokenBudget);
        }
        (step >= settings.max_steps).then_some(StopCause::StepLimit)
    }

    /// Answers every call of the last turn without running it, so the
    /// transcript stays valid for a provider if the caller continues it.
    fn answer_not_run(&mut self, calls: &[ToolCall], cause: &StopCause) {
        let why = match cause {
            StopCause::TokenBudget => "not run: the conversation's token budget is spent",
            _ => "not run: the conversation's step limit was reached",
        };
        let results: Vec<ToolResult> = calls
            .iter()
            .map(|call| ToolResult::failure(call, ErrorKind::Cancelled, why))
            .collect();
        for result in &results {
            self.events.on_event(&AgentEvent::ToolResult(result));
        }
        self.tool_calls += u32::try_from(results.len()).unwrap_or(u32::MAX);
        self.messages.push(Message::tool_results(results));
    }

    async fn dispatch(&mut self, calls: &[ToolCall]) -> Vec<ToolResult> {
        for call in calls {
            self.events.on_event(&AgentEvent::ToolDispatched(call));
        }
        let agent = self.agent;
        let results =
            tools::dispatch_turn(&agent.dispatcher, calls, &self.labels, &self.span).await;
        for result in &results {
            self.events.on_event(&AgentEvent::ToolResult(result));
        }
        self.tool_calls += u32::try_from(results.len()).unwrap_or(u32::MAX);
        results
    }

    fn stop_tool_result(&self, results: &[ToolResult]) -> Option<ToolResult> {
        let stop_tools = &self.agent.settings.stop_tools;
        results
            .iter()
            .find(|r| stop_tools.contains(&r.name))
            .cloned()
    }

    fn finish(self, stop: StopCause) -> RunOutput {
        let text = self
            .messages
            .iter()
            .rev()
            .find(|m| m.role == forge_core::Role::Assistant)
            .map(Message::text)
            .unwrap_or_default();
        RunOutput {
            messages: self.messages,
            text,
            stop,
            usage: self.usage,
            turns: self.turns,
            tool_calls: self.tool_calls,
            invalid_calls: self.budget.total(),
        }
    }
}

fn tool_calls_of(content: &[Content]) -> Vec<ToolCall> {
    let calls = content.iter().filter_map(|part| match part {
        Content::ToolCall(call) => Some(call.clone()),
        _ => None,
    });
    calls.collect()
}
