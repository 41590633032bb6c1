//! Configuration: deployments and routes from TOML, with `FORGE_*`
//! environment overrides, and building a model from them.

mod deployment;
pub(crate) mod duration;
mod secret;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use forge_core::Model;
use serde::Deserialize;

pub use deployment::{DeploymentConfig, HttpConfig, ProviderKind, RetryConfig, TimeoutConfig};
pub use secret::ApiKey;

use crate::{
    Error,
    limit::LimitedModel,
    router::{BreakerConfig, RouteConfig, Router, RouterConfig},
};

/// Named deployments (and, with the router, routes), as read from TOML.
///
/// ```toml
/// default = "main"                 # optional: the only/first deployment otherwise
///
/// [deployments.main]
/// provider = "anthropic"           # anthropic | openai | google
/// model = "claude-sonnet-4-5"
/// base_url = "http://127.0.0.1:8080"
/// api_key_env = "ANTHROPIC_API_KEY"
/// timeouts = { first_chunk = "30s", idle = "20s", total = "5m" }
/// retry = { max_retries = 3, initial_backoff = "500ms" }
/// limits = { max_concurrency = 16, max_queue = 256 }
///
/// [deployments.cheap]
/// provider = "openai"
/// model = "gpt-4.1-mini"
///
/// # With several deployments (or any route), `build` makes a router.
/// fallback = ["cheap"]
/// breaker = { failure_threshold = 3, cooldown_ms = 30000 }
///
/// [[routes]]
/// deployment = "cheap"
/// route = "summarize"
/// ```
///
/// Environment overrides apply to the default deployment: `FORGE_PROVIDER`,
/// `FORGE_MODEL`, `FORGE_BASE_URL`, `FORGE_API_KEY_ENV`,
/// `FORGE_HTTP2_PRIOR_KNOWLEDGE`; `FORGE_DEPLOYMENT` picks the default.
///
/// # Examples
///
/// ```
/// use forge_providers::{Config, ProviderKind};
///
/// let config = Config::from_toml_str_with_env(
///     r#"
///     [deployments.main]
///     provider = "openai"
///     model = "gpt-4.1-mini"
///     base_url = "http://127.0.0.1:9/v1"
///     "#,
///     |name| (name == "FORGE_MODEL").then(|| "gpt-5".to_owned()),
/// )?;
/// let main = config.default_deployment().expect("one deployment");
/// assert_eq!(main.provider, ProviderKind::OpenAi);
/// assert_eq!(main.model, "gpt-5");
/// # Ok::<(), forge_providers::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The deployment used when no route picks one.
    #[serde(default)]
    pub default: Option<String>,
    /// Deployments by name.
    #[serde(default)]
    pub deployments: BTreeMap<String, DeploymentConfig>,
    /// Routing rules, first match wins (see [`crate::router`]).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The global fallback chain, after a rule's own.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// The circuit breaker of every deployment.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// The longest a request without a timeout waits for a cooling
    /// deployment (`max_wait_ms`, milliseconds or a duration string).
    #[serde(default, rename = "max_wait_ms", with = "duration::option")]
    pub max_wait: Option<Duration>,
}

impl Config {
    /// A configuration of one deployment named `name`, without routes.
    pub fn single(name: impl Into<String>, deployment: DeploymentConfig) -> Self {
        let name = name.into();
        Self {
            default: Some(name.clone()),
            deployments: BTreeMap::from([(name, deployment)]),
            ..Self::default()
        }
    }

    /// Parses TOML and applies the process's `FORGE_*` overrides.
    ///
    /// # Errors
    ///
    /// A [`Config`](forge_core::ErrorKind::Config) error naming the problem.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        Self::from_toml_str_with_env(text, |name| std::env::var(name).ok())
    }

    /// Parses TOML and applies overrides looked up with `env`.
    ///
    /// # Errors
    ///
    /// A [`Config`](forge_core::ErrorKind::Config) error naming the problem.
    pub fn from_toml_str_with_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut config: Self = toml::from_str(text)
            .map_err(|e| Error::config(format!("invalid configuration: {}", e.message())))?;
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file and applies the process's `FORGE_*` overrides.
    ///
    /// # Errors
    ///
    /// A [`Config`](forge_core::ErrorKind::Config) error when the file cannot
    /// be read or is invalid.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read {}", path.display())).with_source(e))?;
        Self::from_toml_str(&text)
    }

    /// The name of the default deployment.
    pub fn default_name(&self) -> Option<&str> {
        self.default
            .as_deref()
            .or_else(|| self.deployments.keys().next().map(String::as_str))
    }

    /// The default deployment.
    pub fn default_deployment(&self) -> Option<&DeploymentConfig> {
        self.deployments.get(self.default_name()?)
    }

    /// Builds the model this configuration describes.
    ///
    /// # Errors
    ///
    /// A [`Config`](forge_core::ErrorKind::Config) error for an empty
    /// configuration, an unknown default, a provider not compiled in, or an
    /// invalid base URL or CA file.
    pub fn build(&self) -> Result<Arc<dyn Model>, Error> {
        let default = self
            .default_name()
            .ok_or_else(|| Error::config("the configuration has no deployment"))?;
        if self.deployments.len() == 1 && self.routes.is_empty() && self.fallback.is_empty() {
            return connect(&self.deployments[default]);
        }
        Ok(Arc::new(self.router(default)?))
    }

    /// A router over every deployment, the default one first (it takes the
    /// requests no rule matches), each behind its own limits.
    fn router(&self, default: &str) -> Result<Router, Error> {
        let others = self.deployments.iter().filter(|(name, _)| *name != default);
        let ordered = std::iter::once((&self.deployments[default], default))
            .chain(others.map(|(name, d)| (d, name.as_str())));
        let mut builder = Router::builder();
        for (deployment, name) in ordered {
            let model = connect_unlimited(deployment)?;
            builder = builder.deployment_with_limits(name, model, &deployment.limits);
        }
        let mut config = RouterConfig::default();
        config.routes.clone_from(&self.routes);
        config.fallback.clone_from(&self.fallback);
        config.breaker = self.breaker;
        if let Some(wait) = self.max_wait {
            config.max_wait = wait;
        }
        builder.config(&config).build()
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        if let Some(name) = env("FORGE_DEPLOYMENT") {
            self.default = Some(name);
        }
        let provider = env("FORGE_PROVIDER");
        let model = env("FORGE_MODEL");
        if self.deployments.is_empty() {
            // A configuration made only of the environment.
            if let (Some(p), Some(m)) = (&provider, &model) {
                let kind = parse_provider(p)?;
                let name = self.default.clone().unwrap_or_else(|| "default".to_owned());
                self.deployments
                    .insert(name, DeploymentConfig::new(kind, m.clone()));
            }
        }
        let Some(name) = self.default_name().map(str::to_owned) else {
            return Ok(());
        };
        let Some(d) = self.deployments.get_mut(&name) else {
            return Ok(());
        };
        if let Some(p) = provider {
            d.provider = parse_provider(&p)?;
        }
        if let Some(m) = model {
            d.model = m;
        }
        if let Some(url) = env("FORGE_BASE_URL") {
            d.base_url = Some(url);
        }
        if let Some(var) = env("FORGE_API_KEY_ENV") {
            d.api_key_env = Some(var);
        }
        if let Some(flag) = env("FORGE_HTTP2_PRIOR_KNOWLEDGE") {
            d.http2_prior_knowledge = matches!(flag.trim(), "1" | "true" | "yes");
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), Error> {
        if let Some(name) = &self.default
            && !self.deployments.contains_key(name)
        {
            return Err(Error::config(format!(
                "unknown default deployment `{name}`"
            )));
        }
        for (name, d) in &self.deployments {
            if d.model.trim().is_empty() {
                return Err(Error::config(format!("deployment `{name}` has no model")));
            }
        }
        Ok(())
    }
}

fn parse_provider(name: &str) -> Result<ProviderKind, Error> {
    ProviderKind::parse(name).ok_or_else(|| Error::config(format!("unknown provider `{name}`")))
}

/// Builds the adapter for one deployment, behind its concurrency and rate
/// limits when it has any.
///
/// # Errors
///
/// A [`Config`](forge_core::ErrorKind::Config) error when the provider's
/// feature is not compiled in, or the base URL or CA file is invalid.
///
/// # Examples
///
/// ```
/// use forge_providers::{DeploymentConfig, ProviderKind};
///
/// let mut d = DeploymentConfig::new(ProviderKind::Anthropic, "claude-sonnet-4-5");
/// d.base_url = Some("http://127.0.0.1:9".into());
/// # #[cfg(feature = "anthropic")]
/// let model = forge_providers::connect(&d)?;
/// # Ok::<(), forge_providers::Error>(())
/// ```
pub fn connect(deployment: &DeploymentConfig) -> Result<Arc<dyn Model>, Error> {
    let model = connect_unlimited(deployment)?;
    if deployment.limits.is_unlimited() {
        return Ok(model);
    }
    let name = format!("{}/{}", deployment.provider.as_str(), deployment.model);
    Ok(Arc::new(LimitedModel::new(name, model, &deployment.limits)))
}

/// The adapter alone, without its deployment's limits.
fn connect_unlimited(deployment: &DeploymentConfig) -> Result<Arc<dyn Model>, Error> {
    match deployment.provider {
        #[cfg(feature = "anthropic")]
        ProviderKind::Anthropic => crate::anthropic::connect(deployment),
        #[cfg(feature = "openai")]
        ProviderKind::OpenAi => crate::openai::connect(deployment),
        #[cfg(feature = "google")]
        ProviderKind::Google => crate::google::connect(deployment),
        #[allow(
            unreachable_patterns,
            reason = "reachable when a vendor feature is off"
        )]
        other => Err(Error::config(format!(
            "provider `{}` is not compiled in (enable its cargo feature)",
            other.as_str()
        ))),
    }
}
