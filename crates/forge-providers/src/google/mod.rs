//! The Gemini adapter (`POST {base}/v1beta/models/{model}:generateContent`
//! and `:streamGenerateContent?alt=sse`).

mod error;
mod request;
mod response;
mod schema;
mod stream;
mod wire;

use std::sync::Arc;

use forge_core::{Error, Model, ModelRequest, ModelResponse};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::value::RawValue;

pub(crate) use stream::GoogleAssembly;

use crate::{
    ApiKey, DeploymentConfig, ProviderKind,
    provider::{Dialect, NameMap, Prepared, Provider, ToolCache},
};

/// Gemini's dialect: its key, schema choice and tool cache.
pub(crate) struct Google {
    key: Option<HeaderValue>,
    json_schema: bool,
    tools: ToolCache,
}

/// Builds a Gemini model for `deployment`.
pub(crate) fn connect(deployment: &DeploymentConfig) -> Result<Arc<dyn Model>, crate::Error> {
    let dialect = Google {
        key: deployment
            .api_key()
            .as_ref()
            .and_then(|k| ApiKey::header_value(k, "")),
        json_schema: deployment.json_schema_parameters,
        tools: ToolCache::default(),
    };
    Ok(Arc::new(Provider::new(dialect, deployment)?))
}

impl Dialect for Google {
    type Assembly = GoogleAssembly;

    const KIND: ProviderKind = ProviderKind::Google;

    fn prepare(
        &self,
        request: &ModelRequest,
        model: &str,
        max_tokens: u32,
        stream: bool,
    ) -> Result<Prepared, Error> {
        let json_schema = self.json_schema;
        let (tools, names) =
            self.tools
                .convert(&request.tools, request::gemini_name, |spec, name| {
                    request::tool(spec, name, json_schema)
                })?;
        let raw: Vec<&RawValue> = tools.iter().map(|t| &*t.json).collect();
        let body = request::body(request, max_tokens, &raw, &names)?;
        let path = if stream {
            format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("/v1beta/models/{model}:generateContent")
        };
        Ok(Prepared {
            path,
            body: body.into(),
            names: Arc::new(names),
        })
    }

    fn headers(&self, headers: &mut HeaderMap) {
        if let Some(key) = &self.key {
            headers.insert("x-goog-api-key", key.clone());
        }
    }

    fn parse(&self, body: &[u8], names: &Arc<NameMap>) -> Result<ModelResponse, Error> {
        response::parse(body, names.clone())
    }

    fn assembly(&self, names: Arc<NameMap>) -> GoogleAssembly {
        GoogleAssembly::new(names)
    }

    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        error::classify(status, headers, body)
    }
}
