//! [`RouterBuilder`]: deployments, rules, fallbacks and breaker settings,
//! validated once at [`RouterBuilder::build`].

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use forge_core::Model;
use tokio::sync::Notify;

use super::{
    BreakerConfig, Deployment, RouteConfig, Router, RouterConfig, Rule, breaker::Breaker,
    config::DEFAULT_MAX_WAIT,
};
use crate::limit::{LimitConfig, LimitedModel};

/// Builds a [`Router`].
///
/// # Examples
///
/// Building a router from configuration, with limits per deployment:
///
/// ```
/// use std::sync::Arc;
///
/// use forge_core::{BoxFuture, Error, EventStream, Model, ModelRequest, ModelResponse};
/// use forge_providers::{limit::LimitConfig, router::{Router, RouterConfig}};
///
/// struct Stub;
///
/// impl Model for Stub {
///     fn complete(&self, _: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
///         Box::pin(async { Err(Error::new(forge_core::ErrorKind::ServerError, "stub")) })
///     }
///
///     fn stream(&self, _: ModelRequest) -> EventStream<'_> {
///         Box::pin(futures_util::stream::empty())
///     }
/// }
///
/// let config = RouterConfig::default();
/// let router = Router::builder()
///     .deployment_with_limits("a", Arc::new(Stub), &LimitConfig::new().max_concurrency(4))
///     .deployment("b", Arc::new(Stub))
///     .config(&config)
///     .fallback(["b"])
///     .build()
///     .expect("valid router");
/// assert_eq!(router.chain(&ModelRequest::default()), ["a", "b"]);
/// ```
#[must_use]
pub struct RouterBuilder {
    deployments: Vec<(Arc<str>, Arc<dyn Model>)>,
    rules: Vec<RouteConfig>,
    fallback: Vec<String>,
    breaker: BreakerConfig,
    max_wait: Duration,
}

impl fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.deployments.iter().map(|(n, _)| &**n).collect();
        f.debug_struct("RouterBuilder")
            .field("deployments", &names)
            .field("rules", &self.rules)
            .field("fallback", &self.fallback)
            .field("breaker", &self.breaker)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

impl Default for RouterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RouterBuilder {
    /// A builder with no deployment, no rule, no fallback, the default
    /// breaker and a `max_wait` of sixty seconds.
    pub fn new() -> Self {
        Self {
            deployments: Vec::new(),
            rules: Vec::new(),
            fallback: Vec::new(),
            breaker: BreakerConfig::default(),
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// Adds the deployment `name`, served by `model`. The first deployment
    /// added serves requests that no rule matches.
    pub fn deployment(mut self, name: impl Into<Arc<str>>, model: Arc<dyn Model>) -> Self {
        self.deployments.push((name.into(), model));
        self
    }

    /// Adds the deployment `name`, served by `model` behind `limits` (see
    /// [`LimitedModel`]); without any limit set, `model` is used as it is.
    pub fn deployment_with_limits(
        self,
        name: impl Into<Arc<str>>,
        model: Arc<dyn Model>,
        limits: &LimitConfig,
    ) -> Self {
        let name = name.into();
        if limits.is_unlimited() {
            return self.deployment(name, model);
        }
        let limited = LimitedModel::new(Arc::clone(&name), model, limits);
        self.deployment(name, Arc::new(limited))
    }

    /// Adds a rule; rules are checked in the order they were added.
    pub fn rule(mut self, rule: RouteConfig) -> Self {
        self.rules.push(rule);
        self
    }

    /// Appends deployments to the global fallback chain, which every
    /// request's chain ends with.
    pub fn fallback<I, S>(mut self, deployments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fallback
            .extend(deployments.into_iter().map(Into::into));
        self
    }

    /// Sets every deployment's breaker.
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }

    /// Sets how long a request without a timeout may wait for a cooling
    /// deployment.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Applies a whole [`RouterConfig`]: appends its rules and fallbacks,
    /// and sets its breaker and `max_wait`.
    pub fn config(mut self, config: &RouterConfig) -> Self {
        self.rules.extend(config.routes.iter().cloned());
        self.fallback.extend(config.fallback.iter().cloned());
        self.breaker = config.breaker;
        self.max_wait = config.max_wait;
        self
    }

    /// Validates the configuration and builds the router.
    ///
    /// # Errors
    ///
    /// A [`crate::Error`] of kind [`forge_core::ErrorKind::Config`] when there
    /// is no deployment, two deployments share a name, a rule or fallback
    /// names an unknown deployment, or the breaker's `failure_threshold` is 0.
    pub fn build(self) -> Result<Router, crate::Error> {
        if self.deployments.is_empty() {
            return Err(crate::Error::config(
                "a router needs at least one deployment",
            ));
        }
        if self.breaker.failure_threshold == 0 {
            return Err(crate::Error::config(
                "the breaker's failure_threshold must be at least 1",
            ));
        }
        let index = self.index()?;
        let fallback = resolve(&index, &self.fallback)?;
        let default_chain = chain(0, &[], &fallback);
        let rules = self
            .rules
            .iter()
            .map(|config| compile_rule(&index, config, &fallback))
            .collect::<Result<_, _>>()?;

        let changed = Arc::new(Notify::new());
        let deployments = self
            .deployments
            .into_iter()
            .map(|(name, model)| Deployment {
                name,
                model,
                breaker: Breaker::new(self.breaker, Arc::clone(&changed)),
            })
            .collect();
        Ok(Router {
            deployments,
            rules,
            default_chain,
            max_wait: self.max_wait,
            changed,
        })
    }

    fn index(&self) -> Result<HashMap<&str, usize>, crate::Error> {
        let mut index = HashMap::with_capacity(self.deployments.len());
        for (i, (name, _)) in self.deployments.iter().enumerate() {
            if index.insert(&**name, i).is_some() {
                let message = format!("two router deployments are called {name:?}");
                return Err(crate::Error::config(message));
            }
        }
        Ok(index)
    }
}

fn compile_rule(
    index: &HashMap<&str, usize>,
    config: &RouteConfig,
    fallback: &[usize],
) -> Result<Rule, crate::Error> {
    let first = lookup(index, &config.deployment)?;
    let own = resolve(index, &config.fallback)?;
    Ok(Rule {
        config: config.clone(),
        chain: chain(first, &own, fallback),
    })
}

fn resolve(index: &HashMap<&str, usize>, names: &[String]) -> Result<Vec<usize>, crate::Error> {
    names.iter().map(|name| lookup(index, name)).collect()
}

fn lookup(index: &HashMap<&str, usize>, name: &str) -> Result<usize, crate::Error> {
    index.get(name).copied().ok_or_else(|| {
        crate::Error::config(format!("the router has no deployment called {name:?}"))
    })
}

/// `first`, then `own`, then `global`, each deployment once.
fn chain(first: usize, own: &[usize], global: &[usize]) -> Vec<usize> {
    let mut chain = vec![first];
    for &i in own.iter().chain(global) {
        if !chain.contains(&i) {
            chain.push(i);
        }
    }
    chain
}
