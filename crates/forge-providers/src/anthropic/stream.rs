//! Assembling Anthropic stream events into forge stream events.
//!
//! Tool arguments arrive as `partial_json` pieces, split anywhere; they are
//! joined and checked once at `content_block_stop`. An empty join means no
//! arguments (`{}`). JSON that is still incomplete when the message stops
//! for `max_tokens` becomes a truncated call, never `{}`.

use std::{collections::VecDeque, sync::Arc};

use forge_core::{Error, ErrorKind, StopReason, StreamEvent, Thinking, ToolCall, Usage};

use super::{
    error::stream_error,
    response::{stop_reason, usage},
    wire::{ContentDelta, Frame, FrameType, StartBlock, StreamData},
};
use crate::{
    error::{fail, malformed},
    provider::{Assembly, NameMap, json},
    sse::SseEvent,
};

#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Thinking {
        text: String,
        signature: Option<String>,
    },
    Redacted(String),
    Other,
}

/// The assembly of one streamed Anthropic response.
#[derive(Debug)]
pub(crate) struct AnthropicAssembly {
    names: Arc<NameMap>,
    blocks: Vec<Block>,
    /// Calls whose JSON was incomplete at block stop, held until the stop
    /// reason says whether they were truncated.
    unfinished: Vec<ToolCall>,
    usage: Usage,
    stop: Option<StopReason>,
    done: bool,
}

impl AnthropicAssembly {
    pub(crate) fn new(names: Arc<NameMap>) -> Self {
        Self {
            names,
            blocks: Vec::new(),
            unfinished: Vec::new(),
            usage: Usage::default(),
            stop: None,
            done: false,
        }
    }

    /// The block at `index`: one already started, or the next one.
    ///
    /// Blocks are numbered from 0 in order, so an index past the next one is
    /// a malformed stream; growing the list to reach it would let one event
    /// allocate without bound.
    fn block(&mut self, index: usize) -> Result<&mut Block, Error> {
        if index == self.blocks.len() {
            self.blocks.push(Block::Other);
        }
        let started = self.blocks.len();
        self.blocks
            .get_mut(index)
            .ok_or_else(|| skipped_block(index, started))
    }

    fn start_block(
        &mut self,
        index: usize,
        start: StartBlock<'_>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), Error> {
        let block = match start {
            StartBlock::Text { text } => {
                if !text.is_empty() {
                    out.push_back(text_delta(text.into_owned()));
                }
                Block::Text
            }
            StartBlock::ToolUse { id, name } => {
                let name = self.names.to_forge(&name);
                let id = id.into_owned();
                out.push_back(StreamEvent::ToolCallStart {
                    id: id.clone(),
                    name: name.clone(),
                });
                Block::Tool {
                    id,
                    name,
                    json: String::new(),
                }
            }
            StartBlock::Thinking { thinking } => Block::Thinking {
                text: thinking.into_owned(),
                signature: None,
            },
            StartBlock::RedactedThinking { data } => Block::Redacted(data.into_owned()),
            StartBlock::Unknown => Block::Other,
        };
        *self.block(index)? = block;
        Ok(())
    }

    fn delta(
        &mut self,
        index: usize,
        delta: ContentDelta<'_>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), Error> {
        match (self.block(index)?, delta) {
            (_, ContentDelta::TextDelta { text }) => out.push_back(text_delta(text.into_owned())),
            (Block::Tool { json, .. }, ContentDelta::InputJsonDelta { partial_json }) => {
                json.push_str(&partial_json);
            }
            (Block::Thinking { text, .. }, ContentDelta::ThinkingDelta { thinking }) => {
                text.push_str(&thinking);
                out.push_back(StreamEvent::ThinkingDelta {
                    text: thinking.into_owned(),
                });
            }
            (
                Block::Thinking { signature, .. },
                ContentDelta::SignatureDelta { signature: piece },
            ) => {
                signature.get_or_insert_with(String::new).push_str(&piece);
            }
            _ => {}
        }
        Ok(())
    }

    fn stop_block(&mut self, index: usize, out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        match std::mem::replace(self.block(index)?, Block::Other) {
            Block::Tool { id, name, json } => {
                let arguments = if json.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    json
                };
                let call = ToolCall::new(id, name, arguments);
                if json::is_complete_json(&call.arguments) {
                    out.push_back(StreamEvent::ToolCall(call));
                } else {
                    self.unfinished.push(call);
                }
            }
            Block::Thinking { text, signature } => {
                out.push_back(StreamEvent::Thinking(Thinking::new(text, signature)));
            }
            Block::Redacted(data) => out.push_back(StreamEvent::Thinking(Thinking::redacted(data))),
            Block::Text | Block::Other => {}
        }
        Ok(())
    }

    /// Flushes open and unfinished calls; with `max_tokens` they are truncated.
    fn flush_calls(&mut self, out: &mut VecDeque<StreamEvent>) {
        for index in 0..self.blocks.len() {
            if matches!(self.blocks[index], Block::Tool { .. }) {
                // The index names a started block, so this cannot fail.
                let _ = self.stop_block(index, out);
            }
        }
        let truncated = self.stop == Some(StopReason::MaxTokens);
        for call in self.unfinished.drain(..) {
            let call = if truncated {
                call.into_truncated()
            } else {
                call
            };
            out.push_back(StreamEvent::ToolCall(call));
        }
    }
}

#[cold]
fn skipped_block(index: usize, started: usize) -> Error {
    fail(
        ErrorKind::MalformedResponse,
        format!("an Anthropic stream event names block {index}, but only {started} were started"),
    )
}

fn text_delta(text: String) -> StreamEvent {
    StreamEvent::TextDelta {
        text,
        signature: None,
    }
}

impl Assembly for AnthropicAssembly {
    fn event(&mut self, event: SseEvent<'_>, out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        let frame: Frame<'_> = match serde_json::from_str(event.data) {
            Ok(frame) => frame,
            // A future event type is ignored even when its fields do not
            // fit the known ones; a known type that does not parse is an error.
            Err(_)
                if serde_json::from_str::<FrameType<'_>>(event.data)
                    .is_ok_and(|t| !t.is_known()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(malformed("Anthropic stream event", e)),
        };
        let data = frame.into_data().ok_or_else(|| {
            fail(
                ErrorKind::MalformedResponse,
                "an Anthropic stream event lacks a field",
            )
        })?;
        match data {
            StreamData::MessageStart { message } => {
                self.usage = usage(&message.usage, &self.usage);
                out.push_back(StreamEvent::Start {
                    id: message.id.map(Into::into),
                    model: message.model.map(Into::into),
                });
                out.push_back(StreamEvent::Usage(self.usage));
            }
            StreamData::ContentBlockStart {
                index,
                content_block,
            } => self.start_block(index, content_block, out)?,
            StreamData::ContentBlockDelta { index, delta } => self.delta(index, delta, out)?,
            StreamData::ContentBlockStop { index } => self.stop_block(index, out)?,
            StreamData::MessageDelta { delta, usage: u } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop = Some(stop_reason(&reason));
                }
                self.usage = usage(&u, &self.usage);
                out.push_back(StreamEvent::Usage(self.usage));
            }
            StreamData::MessageStop => {
                self.flush_calls(out);
                let stop_reason = self.stop.take().unwrap_or(StopReason::EndTurn);
                out.push_back(StreamEvent::Finish { stop_reason });
                self.done = true;
            }
            StreamData::Error { error } => return Err(stream_error(&error)),
            StreamData::Ping | StreamData::Unknown => {}
        }
        Ok(())
    }

    fn end(&mut self, _out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        Err(fail(
            ErrorKind::StreamTruncated,
            "the Anthropic stream ended before message_stop",
        ))
    }
}
