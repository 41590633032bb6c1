//! The Anthropic Messages adapter (`POST {base}/v1/messages`).

mod error;
mod request;
mod response;
mod stream;
mod wire;

use std::sync::Arc;

use forge_core::{Error, Model, ModelRequest, ModelResponse};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::value::RawValue;

pub(crate) use stream::AnthropicAssembly;

use crate::{
    ApiKey, DeploymentConfig, ProviderKind,
    provider::{Dialect, NameMap, Prepared, Provider, ToolCache, tools::plain_name},
};

/// The `anthropic-version` header value.
const API_VERSION: &str = "2023-06-01";

/// Anthropic's dialect: its key and its tool cache.
pub(crate) struct Anthropic {
    key: Option<HeaderValue>,
    tools: ToolCache,
}

/// Builds an Anthropic model for `deployment`.
pub(crate) fn connect(deployment: &DeploymentConfig) -> Result<Arc<dyn Model>, crate::Error> {
    let dialect = Anthropic {
        key: deployment
            .api_key()
            .as_ref()
            .and_then(|k| ApiKey::header_value(k, "")),
        tools: ToolCache::default(),
    };
    Ok(Arc::new(Provider::new(dialect, deployment)?))
}

impl Dialect for Anthropic {
    type Assembly = AnthropicAssembly;

    const KIND: ProviderKind = ProviderKind::Anthropic;

    fn prepare(
        &self,
        request: &ModelRequest,
        model: &str,
        max_tokens: u32,
        stream: bool,
    ) -> Result<Prepared, Error> {
        let (tools, names) = self
            .tools
            .convert(&request.tools, plain_name, request::tool)?;
        let raw: Vec<&RawValue> = tools.iter().map(|t| &*t.json).collect();
        let body = request::body(request, model, max_tokens, stream, &raw, &names)?;
        Ok(Prepared {
            path: "/v1/messages".to_owned(),
            body: body.into(),
            names: Arc::new(names),
        })
    }

    fn headers(&self, headers: &mut HeaderMap) {
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        if let Some(key) = &self.key {
            headers.insert("x-api-key", key.clone());
        }
    }

    fn parse(&self, body: &[u8], names: &Arc<NameMap>) -> Result<ModelResponse, Error> {
        response::parse(body, names)
    }

    fn assembly(&self, names: Arc<NameMap>) -> AnthropicAssembly {
        AnthropicAssembly::new(names)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        error::classify(status, headers, body)
    }
}
