//! Stream decoding without a network: bytes in, [`StreamEvent`]s out.

use std::{collections::VecDeque, sync::Arc};

use forge_core::{Error, StreamEvent};

use crate::{
    ProviderKind,
    provider::{Assembly, NameMap},
    sse::SseDecoder,
};

/// The adapters' stream decoding (SSE decoder plus the provider's assembly
/// of text and tool calls), usable on recorded bytes: for benchmarks and
/// offline replay.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "openai")] {
/// use std::collections::VecDeque;
/// use forge_core::StreamEvent;
/// use forge_providers::{ProviderKind, StreamDecoder};
///
/// let mut decoder = StreamDecoder::new(ProviderKind::OpenAi).expect("compiled in");
/// let mut events = VecDeque::new();
/// decoder.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n", &mut events)?;
/// decoder.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", &mut events)?;
/// decoder.finish(&mut events)?;
/// assert!(matches!(events.back(), Some(StreamEvent::Finish { .. })));
/// # }
/// # Ok::<(), forge_core::Error>(())
/// ```
pub struct StreamDecoder {
    sse: SseDecoder,
    assembly: Box<dyn Assembly>,
}

impl std::fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecoder").finish_non_exhaustive()
    }
}

impl StreamDecoder {
    /// A decoder for `provider`'s streams, or `None` if its feature is off.
    pub fn new(provider: ProviderKind) -> Option<Self> {
        let names = Arc::new(NameMap::default());
        let assembly: Box<dyn Assembly> = match provider {
            #[cfg(feature = "anthropic")]
            ProviderKind::Anthropic => Box::new(crate::anthropic::AnthropicAssembly::new(names)),
            #[cfg(feature = "openai")]
            ProviderKind::OpenAi => Box::new(crate::openai::OpenAiAssembly::new(names)),
            #[cfg(feature = "google")]
            ProviderKind::Google => Box::new(crate::google::GoogleAssembly::new(names)),
            #[allow(
                unreachable_patterns,
                reason = "reachable when a vendor feature is off"
            )]
            _ => {
                let _ = names;
                return None;
            }
        };
        Some(Self {
            sse: SseDecoder::new(usize::MAX),
            assembly,
        })
    }

    /// Decodes one read's bytes, appending completed events to `out`.
    ///
    /// # Errors
    ///
    /// A malformed event, or an error the provider reported in the stream.
    pub fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        let assembly = &mut self.assembly;
        self.sse.feed(bytes, |event| assembly.event(event, out))
    }

    /// Ends the stream.
    ///
    /// # Errors
    ///
    /// [`forge_core::ErrorKind::StreamTruncated`] when the provider's
    /// terminator never came.
    pub fn finish(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), Error> {
        if self.sse.has_partial_event() {
            return Err(crate::error::fail(
                forge_core::ErrorKind::StreamTruncated,
                "the stream ended mid-event",
            ));
        }
        self.assembly.end(out)
    }
}
