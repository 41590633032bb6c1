//! `Config::build`: one deployment gives its adapter, several give a router
//! that picks by route tag and falls back; switching provider is a config edit.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "support/mod.rs"]
mod support;

use forge_core::{ErrorKind, Message, ModelRequest};
use forge_providers::Config;
use support::{Reply, Server};

const OPENAI_HELLO: &str = r#"{"id":"c1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"from openai"},"finish_reason":"stop"}]}"#;
const ANTHROPIC_HELLO: &str = r#"{"id":"msg","model":"m","type":"message","role":"assistant","content":[{"type":"text","text":"from anthropic"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}"#;

fn config(anthropic: &Server, openai: &Server, extra: &str) -> Config {
    let text = format!(
        r#"
        default = "main"
        {extra}

        [deployments.main]
        provider = "anthropic"
        model = "claude-test"
        base_url = "http://{a}"
        retry = {{ max_retries = 0 }}

        [deployments.cheap]
        provider = "openai"
        model = "gpt-test"
        base_url = "http://{o}/v1"
        retry = {{ max_retries = 0 }}
        limits = {{ max_concurrency = 2 }}

        [[routes]]
        deployment = "cheap"
        route = "summarize"
        "#,
        a = anthropic.addr,
        o = openai.addr,
    );
    Config::from_toml_str_with_env(&text, |_| None).unwrap()
}

fn ask() -> ModelRequest {
    ModelRequest::new(vec![Message::user("Hi")])
}

#[tokio::test]
async fn several_deployments_build_a_router_that_routes_by_tag() {
    let anthropic = Server::start(vec![Reply::json(200, ANTHROPIC_HELLO)]).await;
    let openai = Server::start(vec![Reply::json(200, OPENAI_HELLO)]).await;
    let model = config(&anthropic, &openai, "").build().unwrap();
    let default = model.complete(ask()).await.unwrap();
    assert_eq!(default.to_message().text(), "from anthropic");
    let routed = model.complete(ask().route("summarize")).await.unwrap();
    assert_eq!(routed.to_message().text(), "from openai");
}

#[tokio::test]
async fn the_router_falls_back_on_retryable_failures() {
    let anthropic = Server::start(vec![Reply::json(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
    )])
    .await;
    let openai = Server::start(vec![Reply::json(200, OPENAI_HELLO)]).await;
    let model = config(&anthropic, &openai, r#"fallback = ["cheap"]"#)
        .build()
        .unwrap();
    let answer = model.complete(ask()).await.unwrap();
    assert_eq!(answer.to_message().text(), "from openai");
    assert_eq!(anthropic.hits(), 1);
}

#[tokio::test]
async fn switching_provider_is_a_config_edit() {
    let openai = Server::start(vec![Reply::json(200, OPENAI_HELLO)]).await;
    let text = format!(
        "[deployments.only]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"http://{}/v1\"",
        openai.addr
    );
    let model = Config::from_toml_str_with_env(&text, |_| None)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        model.complete(ask()).await.unwrap().to_message().text(),
        "from openai"
    );
}

#[tokio::test]
async fn a_route_to_an_unknown_deployment_is_a_config_error() {
    let text =
        "[deployments.a]\nprovider = \"openai\"\nmodel = \"m\"\n[[routes]]\ndeployment = \"nope\"";
    let config = Config::from_toml_str_with_env(text, |_| None).unwrap();
    assert_eq!(config.build().err().unwrap().kind(), ErrorKind::Config);
}
