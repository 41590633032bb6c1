//! Parsing a whole (non-streamed) Gemini response, through the same
//! assembly the stream uses.

use std::{collections::VecDeque, sync::Arc};

use forge_core::{Error, ErrorKind, ModelResponse, ResponseBuilder};

use super::{stream::GoogleAssembly, wire::GenerateResponse};
use crate::{
    error::{fail, malformed},
    provider::NameMap,
};

pub(super) fn parse(body: &[u8], names: Arc<NameMap>) -> Result<ModelResponse, Error> {
    let wire: GenerateResponse<'_> =
        serde_json::from_slice(body).map_err(|e| malformed("Gemini response", e))?;
    let mut assembly = GoogleAssembly::new(names);
    let mut events = VecDeque::new();
    assembly.response(wire, &mut events)?;
    assembly.close(&mut events, true)?;
    let mut builder = ResponseBuilder::default();
    for event in events {
        builder.push(event);
    }
    builder.finish().ok_or_else(|| {
        fail(
            ErrorKind::MalformedResponse,
            "the Gemini response did not finish",
        )
    })
}
