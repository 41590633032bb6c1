//! Assembling Gemini responses (streamed chunks or one whole answer) into
//! forge stream events.
//!
//! Calls arrive whole, one `functionCall` part each; parallel calls are
//! never merged. Calls usually carry no id, so one is minted. Every
//! `thoughtSignature` stays on the part it came with. `usageMetadata` is a
//! running total. There is no terminator: a stream that ends without any
//! `finishReason` (or block reason) was truncated.

use std::{collections::VecDeque, sync::Arc};

use forge_core::{Error, ErrorKind, StopReason, StreamEvent, Thinking, ToolCall, Usage};

use super::{
    error::stream_error,
    wire::{GenerateResponse, Part, UsageMetadata},
};
use crate::{
    error::{fail, malformed},
    provider::{Assembly, NameMap},
    sse::SseEvent,
};

/// The assembly of one Gemini response.
#[derive(Debug)]
pub(crate) struct GoogleAssembly {
    names: Arc<NameMap>,
    thinking: Option<Thinking>,
    started: bool,
    calls: usize,
    /// Calls whose `args` is not an object, emitted at the end.
    held: Vec<ToolCall>,
    stop: Option<StopReason>,
    done: bool,
}

impl GoogleAssembly {
    pub(crate) fn new(names: Arc<NameMap>) -> Self {
        Self {
            names,
            thinking: None,
            started: false,
            calls: 0,
            held: Vec::new(),
            stop: None,
            done: false,
        }
    }

    /// Folds one response or chunk.
    pub(super) fn response(
        &mut self,
        response: GenerateResponse<'_>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), Error> {
        if let Some(status) = response.error {
            return Err(stream_error(&status));
        }
        if !self.started {
            self.started = true;
            out.push_back(StreamEvent::Start {
                id: response.response_id.map(Into::into),
                model: response.model_version.map(Into::into),
            });
        }
        if let Some(reason) = response.prompt_feedback.and_then(|f| f.block_reason) {
            tracing::debug!(target: "forge_providers::google", block_reason = %reason, "prompt blocked");
            self.stop = Some(StopReason::ContentFilter);
        }
        if let Some(candidate) = response.candidates.into_iter().next() {
            let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
            for part in parts {
                self.part(part, out);
            }
            if let Some(reason) = candidate.finish_reason {
                self.stop = Some(self.finish_reason(&reason));
            }
        }
        if let Some(usage) = response.usage_metadata {
            out.push_back(StreamEvent::Usage(map_usage(&usage)));
        }
        Ok(())
    }

    fn part(&mut self, part: Part<'_>, out: &mut VecDeque<StreamEvent>) {
        let signature = part.thought_signature.map(Into::into);
        if part.thought {
            let text = part.text.unwrap_or_default();
            let block = self.thinking.get_or_insert_with(Thinking::default);
            block.text.push_str(&text);
            if signature.is_some() {
                block.signature = signature;
            }
            if !text.is_empty() {
                out.push_back(StreamEvent::ThinkingDelta {
                    text: text.into_owned(),
                });
            }
            return;
        }
        self.flush_thinking(out);
        if let Some(call) = part.function_call {
            let id = call.id.map_or_else(|| self.mint_id(), Into::into);
            self.calls += 1;
            let name = self.names.to_forge(&call.name);
            let arguments = call.args.map_or("{}", |raw| raw.get());
            let arguments = if arguments == "null" { "{}" } else { arguments };
            out.push_back(StreamEvent::ToolCallStart {
                id: id.clone(),
                name: name.clone(),
            });
            let call = ToolCall::new(id, name, arguments).with_signature(signature);
            if arguments.trim_start().starts_with('{') {
                out.push_back(StreamEvent::ToolCall(call));
            } else {
                // `args` that is not an object is held until the finish
                // reason says whether the output limit cut it.
                self.held.push(call);
            }
            return;
        }
        let text = part.text.unwrap_or_default();
        if !text.is_empty() || signature.is_some() {
            out.push_back(StreamEvent::TextDelta {
                text: text.into_owned(),
                signature,
            });
        }
    }

    fn mint_id(&self) -> String {
        format!(
            "call_forge_{:012x}_{}",
            rand::random::<u64>() & 0xffff_ffff_ffff,
            self.calls
        )
    }

    fn flush_thinking(&mut self, out: &mut VecDeque<StreamEvent>) {
        if let Some(block) = self.thinking.take() {
            out.push_back(StreamEvent::Thinking(block));
        }
    }

    fn finish_reason(&self, reason: &str) -> StopReason {
        match reason {
            "STOP" if self.calls > 0 => StopReason::ToolUse,
            "STOP" => StopReason::EndTurn,
            "MAX_TOKENS" => StopReason::MaxTokens,
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
            | "IMAGE_SAFETY" => StopReason::ContentFilter,
            other => StopReason::Other(other.to_owned()),
        }
    }

    /// Ends the answer; `lenient` treats a missing finish reason as a
    /// normal end (a whole response may omit it).
    pub(super) fn close(
        &mut self,
        out: &mut VecDeque<StreamEvent>,
        lenient: bool,
    ) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        let stop_reason = match self.stop.take() {
            Some(stop) => stop,
            None if lenient => StopReason::EndTurn,
            None => {
                return Err(fail(
                    ErrorKind::StreamTruncated,
                    "the Gemini stream ended without a finish reason",
                ));
            }
        };
        self.flush_thinking(out);
        let cut = stop_reason == StopReason::MaxTokens;
        for call in self.held.drain(..) {
            let call = if cut { call.into_truncated() } else { call };
            out.push_back(StreamEvent::ToolCall(call));
        }
        out.push_back(StreamEvent::Finish { stop_reason });
        self.done = true;
        Ok(())
    }
}

/// Gemini's prompt count includes cached tokens; output here includes thoughts.
fn map_usage(u: &UsageMetadata) -> Usage {
    Usage::new(
        u.prompt_token_count,
        u.candidates_token_count + u.thoughts_token_count,
    )
    .with_cache(u.cached_content_token_count, 0)
    .with_reasoning(u.thoughts_token_count)
}

impl Assembly for GoogleAssembly {
    fn event(&mut self, event: SseEvent<'_>, out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        let chunk: GenerateResponse<'_> =
            serde_json::from_str(event.data).map_err(|e| malformed("Gemini stream chunk", e))?;
        self.response(chunk, out)
    }

    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        self.close(out, false)
    }
}
