//! Gemini `generateContent` wire types, borrowed where possible.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The request body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateRequest<'a> {
    pub(super) contents: Vec<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<ToolGroup<'a>>,
    pub(super) generation_config: GenerationConfig,
}

#[derive(Debug, Serialize)]
pub(super) struct SystemInstruction<'a> {
    pub(super) parts: [TextPart<'a>; 1],
}

#[derive(Debug, Serialize)]
pub(super) struct TextPart<'a> {
    pub(super) text: Cow<'a, str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolGroup<'a> {
    pub(super) function_declarations: Vec<&'a RawValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerationConfig {
    pub(super) max_output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f32>,
}

#[derive(Debug, Serialize)]
pub(super) struct WireContent<'a> {
    pub(super) role: &'static str,
    pub(super) parts: Vec<WirePart<'a>>,
}

/// One part; exactly one of the payload fields is set.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) text: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) thought: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) function_call: Option<WireCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) function_response: Option<WireFunctionResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) thought_signature: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(super) struct WireCall<'a> {
    pub(super) id: &'a str,
    pub(super) name: Cow<'a, str>,
    pub(super) args: Cow<'a, RawValue>,
}

#[derive(Debug, Serialize)]
pub(super) struct WireFunctionResponse<'a> {
    pub(super) id: &'a str,
    pub(super) name: Cow<'a, str>,
    pub(super) response: Cow<'a, RawValue>,
}

/// A response, whole or one streamed chunk.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateResponse<'a> {
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::provider::json::null_as_default"
    )]
    pub(super) candidates: Vec<Candidate<'a>>,
    #[serde(default)]
    pub(super) usage_metadata: Option<UsageMetadata>,
    #[serde(default, borrow)]
    pub(super) model_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) response_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) prompt_feedback: Option<PromptFeedback<'a>>,
    #[serde(default, borrow)]
    pub(super) error: Option<Status<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate<'a> {
    #[serde(default, borrow)]
    pub(super) content: Option<CandidateContent<'a>>,
    #[serde(default, borrow)]
    pub(super) finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CandidateContent<'a> {
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::provider::json::null_as_default"
    )]
    pub(super) parts: Vec<Part<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part<'a> {
    #[serde(default, borrow)]
    pub(super) text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) thought: bool,
    #[serde(default, borrow)]
    pub(super) function_call: Option<FunctionCall<'a>>,
    #[serde(default, borrow)]
    pub(super) thought_signature: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FunctionCall<'a> {
    #[serde(default, borrow)]
    pub(super) id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) args: Option<&'a RawValue>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UsageMetadata {
    #[serde(default)]
    pub(super) prompt_token_count: u64,
    #[serde(default)]
    pub(super) candidates_token_count: u64,
    #[serde(default)]
    pub(super) cached_content_token_count: u64,
    #[serde(default)]
    pub(super) thoughts_token_count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback<'a> {
    #[serde(default, borrow)]
    pub(super) block_reason: Option<Cow<'a, str>>,
}

/// `{"error": google.rpc.Status}`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorEnvelope<'a> {
    #[serde(borrow)]
    pub(super) error: Status<'a>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Status<'a> {
    #[serde(default, borrow)]
    pub(super) message: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) status: Cow<'a, str>,
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::provider::json::null_as_default"
    )]
    pub(super) details: Vec<Detail<'a>>,
}

/// One `details[]` entry; the fields of the kinds forge reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Detail<'a> {
    #[serde(rename = "@type", default, borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) retry_delay: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::provider::json::null_as_default"
    )]
    pub(super) violations: Vec<Violation<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Violation<'a> {
    #[serde(default, borrow)]
    pub(super) quota_id: Option<Cow<'a, str>>,
}
