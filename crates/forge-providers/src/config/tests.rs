//! Configuration parsing, overrides and key redaction.

use super::*;
use forge_core::ErrorKind;
use std::time::Duration;

const TOML: &str = r#"
default = "fast"

[deployments.fast]
provider = "openai"
model = "gpt-4.1-mini"
base_url = "http://127.0.0.1:9/v1/"
api_key_env = "FORGE_TEST_NO_SUCH_KEY"
timeouts = { first_chunk = "250ms", idle = 1500, total = "2m" }
retry = { max_retries = 5, initial_backoff = "10ms" }
limits = { max_concurrency = 4, max_queue = 8 }
http = { max_event_bytes = 65536 }

[deployments.smart]
provider = "gemini"
model = "gemini-2.5-pro"
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn toml_with_durations_and_limits_parses() {
    let config = Config::from_toml_str_with_env(TOML, no_env).unwrap();
    let fast = config.default_deployment().unwrap();
    assert_eq!(fast.provider, ProviderKind::OpenAi);
    assert_eq!(fast.base_url(), "http://127.0.0.1:9/v1");
    assert_eq!(fast.timeouts.first_chunk, Duration::from_millis(250));
    assert_eq!(fast.timeouts.idle, Duration::from_millis(1500));
    assert_eq!(fast.timeouts.total, Some(Duration::from_secs(120)));
    assert_eq!(fast.retry.max_retries, 5);
    assert_eq!(fast.retry.initial_backoff, Duration::from_millis(10));
    assert_eq!(fast.limits.max_concurrency.map(|n| n.get()), Some(4));
    assert_eq!(fast.http.max_event_bytes, 65536);
    let smart = &config.deployments["smart"];
    assert_eq!(smart.provider, ProviderKind::Google);
    assert_eq!(
        smart.base_url(),
        "https://generativelanguage.googleapis.com"
    );
}

#[test]
fn env_overrides_apply_to_the_default_deployment() {
    let env = |name: &str| match name {
        "FORGE_DEPLOYMENT" => Some("smart".to_owned()),
        "FORGE_PROVIDER" => Some("anthropic".to_owned()),
        "FORGE_BASE_URL" => Some("http://127.0.0.1:7".to_owned()),
        "FORGE_HTTP2_PRIOR_KNOWLEDGE" => Some("true".to_owned()),
        _ => None,
    };
    let config = Config::from_toml_str_with_env(TOML, env).unwrap();
    let smart = config.default_deployment().unwrap();
    assert_eq!(config.default_name(), Some("smart"));
    assert_eq!(smart.provider, ProviderKind::Anthropic);
    assert_eq!(smart.base_url(), "http://127.0.0.1:7");
    assert!(smart.http2_prior_knowledge);
    assert_eq!(config.deployments["fast"].provider, ProviderKind::OpenAi);
}

#[test]
fn a_configuration_can_come_from_the_environment_alone() {
    let env = |name: &str| match name {
        "FORGE_PROVIDER" => Some("google".to_owned()),
        "FORGE_MODEL" => Some("gemini-2.5-flash".to_owned()),
        _ => None,
    };
    let config = Config::from_toml_str_with_env("", env).unwrap();
    assert_eq!(
        config.default_deployment().unwrap().model,
        "gemini-2.5-flash"
    );
}

#[test]
fn invalid_configurations_are_config_errors() {
    let cases = [
        "[deployments.a]\nprovider = \"nope\"\nmodel = \"m\"",
        "[deployments.a]\nprovider = \"openai\"\nmodel = \"m\"\ntimeouts = { idle = \"forever\" }",
        "[deployments.a]\nprovider = \"openai\"\nmodel = \"m\"\nunknown = 1",
        "default = \"b\"\n[deployments.a]\nprovider = \"openai\"\nmodel = \"m\"",
    ];
    for case in cases {
        let err = Config::from_toml_str_with_env(case, no_env).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{case}");
    }
    let err = Config::default().build().err().unwrap();
    assert!(err.is_config());
}

#[test]
fn invalid_base_urls_fail_at_connect() {
    let mut d = DeploymentConfig::new(ProviderKind::OpenAi, "m");
    d.base_url = Some("ftp://example".into());
    assert!(connect(&d).err().unwrap().is_config());
}

#[test]
fn api_keys_never_show_in_debug_or_display() {
    let key = ApiKey::new("sk-very-secret");
    assert!(!format!("{key:?}").contains("secret"));
    assert!(!key.to_string().contains("secret"));
    let header = key.header_value("Bearer ").unwrap();
    assert!(header.is_sensitive());
    assert!(!format!("{header:?}").contains("secret"));
}

#[test]
fn durations_parse_in_every_form() {
    assert_eq!(duration::parse("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(duration::parse("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(duration::parse("2m"), Some(Duration::from_secs(120)));
    assert_eq!(duration::parse("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(duration::parse("40"), Some(Duration::from_millis(40)));
    assert_eq!(duration::parse("5 parsecs"), None);
}
