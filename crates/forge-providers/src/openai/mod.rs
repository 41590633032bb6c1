//! The OpenAI Chat Completions adapter (`POST {base}/chat/completions`; the
//! base includes `/v1`), also for OpenAI-compatible servers.

mod error;
mod request;
mod response;
mod stream;
mod wire;

use std::sync::Arc;

use forge_core::{Error, Model, ModelRequest, ModelResponse};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::value::RawValue;

pub(crate) use stream::OpenAiAssembly;

use crate::{
    ApiKey, DeploymentConfig, ProviderKind,
    provider::{Dialect, NameMap, Prepared, Provider, ToolCache, tools::plain_name},
};

/// OpenAI's dialect: its key, strict-mode choice and tool cache.
pub(crate) struct OpenAi {
    key: Option<HeaderValue>,
    strict: bool,
    tools: ToolCache,
}

/// Builds an OpenAI model for `deployment`.
pub(crate) fn connect(deployment: &DeploymentConfig) -> Result<Arc<dyn Model>, crate::Error> {
    let dialect = OpenAi {
        key: deployment
            .api_key()
            .as_ref()
            .and_then(|k| ApiKey::header_value(k, "Bearer ")),
        strict: deployment.strict_tools,
        tools: ToolCache::default(),
    };
    Ok(Arc::new(Provider::new(dialect, deployment)?))
}

impl Dialect for OpenAi {
    type Assembly = OpenAiAssembly;

    const KIND: ProviderKind = ProviderKind::OpenAi;

    fn prepare(
        &self,
        request: &ModelRequest,
        model: &str,
        max_tokens: u32,
        stream: bool,
    ) -> Result<Prepared, Error> {
        let strict = self.strict;
        let (tools, names) = self
            .tools
            .convert(&request.tools, plain_name, |spec, name| {
                request::tool(spec, name, strict)
            })?;
        let raw: Vec<&RawValue> = tools.iter().map(|t| &*t.json).collect();
        let body = request::body(request, model, max_tokens, stream, &raw, &names)?;
        Ok(Prepared {
            path: "/chat/completions".to_owned(),
            body: body.into(),
            names: Arc::new(names),
        })
    }

    fn headers(&self, headers: &mut HeaderMap) {
        if let Some(key) = &self.key {
            headers.insert(header::AUTHORIZATION, key.clone());
        }
    }

    fn parse(&self, body: &[u8], names: &Arc<NameMap>) -> Result<ModelResponse, Error> {
        response::parse(body, names)
    }

    fn assembly(&self, names: Arc<NameMap>) -> OpenAiAssembly {
        OpenAiAssembly::new(names)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        error::classify(status, headers, body)
    }
}
