//! Assembling OpenAI stream chunks into forge stream events.
//!
//! Tool calls are accumulated by `tool_calls[].index`; the id and name come
//! only in a call's first fragment and are never overwritten by later nulls.
//! Servers that omit `index` are handled by id (or, lacking ids, by a new
//! name starting a new call); servers that omit ids get a minted one. Calls
//! are emitted whole when the choice finishes.

use std::{collections::VecDeque, sync::Arc};

use forge_core::{Error, ErrorKind, StopReason, StreamEvent, Thinking, ToolCall};

use super::{
    error::stream_error,
    response::{finish_reason, mint_id, usage},
    wire::{Chunk, DeltaCall, ResponseDelta},
};
use crate::{
    error::{fail, malformed},
    provider::{Assembly, NameMap, json},
    sse::SseEvent,
};

#[derive(Debug, Default)]
struct Slot {
    index: Option<usize>,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
    announced: bool,
}

/// The assembly of one streamed OpenAI response.
#[derive(Debug)]
pub(crate) struct OpenAiAssembly {
    names: Arc<NameMap>,
    slots: Vec<Slot>,
    reasoning: String,
    started: bool,
    refused: bool,
    flushed: bool,
    stop: Option<StopReason>,
    done: bool,
}

impl OpenAiAssembly {
    pub(crate) fn new(names: Arc<NameMap>) -> Self {
        Self {
            names,
            slots: Vec::new(),
            reasoning: String::new(),
            started: false,
            refused: false,
            flushed: false,
            stop: None,
            done: false,
        }
    }

    fn chunk(&mut self, chunk: Chunk<'_>, out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        if let Some(error) = chunk.error {
            return Err(stream_error(&error));
        }
        if !self.started && (chunk.id.is_some() || !chunk.choices.is_empty()) {
            self.started = true;
            out.push_back(StreamEvent::Start {
                id: chunk.id.map(Into::into),
                model: chunk.model.map(Into::into),
            });
        }
        // Only the first choice is assembled: forge never asks for `n > 1`.
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(delta) = choice.delta {
                self.delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason.as_deref().and_then(finish_reason) {
                self.stop = Some(reason);
                self.flush(out);
            }
        }
        if let Some(u) = &chunk.usage {
            out.push_back(StreamEvent::Usage(usage(u)));
        }
        Ok(())
    }

    fn delta(&mut self, delta: ResponseDelta<'_>, out: &mut VecDeque<StreamEvent>) {
        if let Some(text) = delta.reasoning_content.filter(|t| !t.is_empty()) {
            self.reasoning.push_str(&text);
            out.push_back(StreamEvent::ThinkingDelta {
                text: text.into_owned(),
            });
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            out.push_back(text_delta(text.into_owned()));
        }
        if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
            self.refused = true;
            out.push_back(text_delta(text.into_owned()));
        }
        for call in delta.tool_calls {
            self.call_fragment(call, out);
        }
    }

    fn slot_for(&mut self, call: &DeltaCall<'_>) -> usize {
        let found = match (call.index, call.id.as_deref()) {
            (Some(index), _) => self.slots.iter().position(|s| s.index == Some(index)),
            (None, Some(id)) => self.slots.iter().position(|s| s.id.as_deref() == Some(id)),
            (None, None) => {
                let new_name = call.function.as_ref().is_some_and(|f| f.name.is_some());
                let last_named = self.slots.last().is_some_and(|s| s.name.is_some());
                (!(self.slots.is_empty() || new_name && last_named)).then(|| self.slots.len() - 1)
            }
        };
        found.unwrap_or_else(|| {
            self.slots.push(Slot {
                index: call.index,
                ..Slot::default()
            });
            self.slots.len() - 1
        })
    }

    fn call_fragment(&mut self, call: DeltaCall<'_>, out: &mut VecDeque<StreamEvent>) {
        let n = self.slot_for(&call);
        let slot = &mut self.slots[n];
        if let Some(id) = call.id.filter(|id| !id.is_empty()) {
            slot.id.get_or_insert_with(|| id.into_owned());
        }
        if let Some(function) = call.function {
            if let Some(name) = function.name.filter(|n| !n.is_empty()) {
                slot.name.get_or_insert_with(|| self.names.to_forge(&name));
            }
            if let Some(raw) = function.arguments {
                slot.arguments.push_str(&json::arguments_text(raw));
            }
        }
        if let (false, Some(name)) = (slot.announced, &slot.name) {
            slot.announced = true;
            let id = slot.id.get_or_insert_with(|| mint_id(n)).clone();
            out.push_back(StreamEvent::ToolCallStart {
                id,
                name: name.clone(),
            });
        }
    }

    /// Emits the thinking block and every call, once.
    fn flush(&mut self, out: &mut VecDeque<StreamEvent>) {
        if self.flushed {
            return;
        }
        self.flushed = true;
        if !self.reasoning.is_empty() {
            let text = std::mem::take(&mut self.reasoning);
            out.push_back(StreamEvent::Thinking(Thinking::new(text, None)));
        }
        let truncated = self.stop == Some(StopReason::MaxTokens);
        for (n, slot) in self.slots.drain(..).enumerate() {
            let arguments = if slot.arguments.trim().is_empty() {
                "{}".to_owned()
            } else {
                slot.arguments
            };
            let cut = truncated && !json::is_complete_json(&arguments);
            let id = slot.id.unwrap_or_else(|| mint_id(n));
            let call = ToolCall::new(id, slot.name.unwrap_or_default(), arguments);
            out.push_back(StreamEvent::ToolCall(if cut {
                call.into_truncated()
            } else {
                call
            }));
        }
    }

    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) {
        // Without any finish reason (servers sending `""` throughout), the
        // calls themselves say how the turn ended.
        let had_calls = !self.slots.is_empty();
        self.flush(out);
        let stop_reason = match self.stop.take() {
            Some(StopReason::EndTurn) | None if self.refused => StopReason::Refusal,
            Some(reason) => reason,
            None if had_calls => StopReason::ToolUse,
            None => StopReason::EndTurn,
        };
        out.push_back(StreamEvent::Finish { stop_reason });
        self.done = true;
    }
}

fn text_delta(text: String) -> StreamEvent {
    StreamEvent::TextDelta {
        text,
        signature: None,
    }
}

impl Assembly for OpenAiAssembly {
    fn event(&mut self, event: SseEvent<'_>, out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        if event.data.trim() == "[DONE]" {
            self.finish(out);
            return Ok(());
        }
        let chunk: Chunk<'_> =
            serde_json::from_str(event.data).map_err(|e| malformed("OpenAI stream chunk", e))?;
        self.chunk(chunk, out)
    }

    fn end(&mut self, _out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        Err(fail(
            ErrorKind::StreamTruncated,
            "the OpenAI stream ended before [DONE]",
        ))
    }
}
