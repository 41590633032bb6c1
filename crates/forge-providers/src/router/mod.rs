//! A [`Model`] that routes each request to one of several named deployments,
//! falls back along an ordered chain, and keeps a circuit breaker per
//! deployment.
//!
//! # Choosing a deployment
//!
//! Rules ([`RouteConfig`]) are checked in the order they were added; the
//! first whose conditions all hold picks the request's chain: the rule's
//! deployment, then the rule's own fallbacks, then the router's global
//! fallback chain (each deployment once). A request no rule matches goes to
//! the first deployment added, then the global chain.
//!
//! # When to fall back
//!
//! A failure falls back to the next deployment of the chain when it is
//! retryable ([`Error::is_retryable`]: rate limited, overloaded, server
//! error, timeout, connection, truncated stream, error after 200), and also
//! when it is [`ErrorKind::QuotaExhausted`] or [`ErrorKind::QueueFull`]: a
//! quota or a wait queue belongs to one deployment, so another deployment
//! may well serve the request. (Quota exhaustion is still never *retried* on
//! the same deployment.) Any other failure (invalid request, auth, not
//! found, content filtered, ...) is returned at once: another deployment
//! would most likely fail the same way, or hide a configuration error.
//!
//! Each deployment is tried at most once per request; retrying the same
//! deployment is the adapter's business. A stream falls back only before its
//! first content event ([`StreamEvent::is_content`]); once content has been
//! passed on, a failure is passed on too.
//!
//! # Circuit breakers
//!
//! Every deployment has a breaker ([`BreakerConfig`]): it opens after
//! `failure_threshold` consecutive retryable failures, or at once on an
//! exhausted quota; it cools for the failure's `retry_after` when the
//! failure named one, else for the configured cooldown; a failure arriving
//! while it is open only ever moves the end of the cooldown later. After the
//! cooldown one probe call passes (half-open); its success closes the
//! breaker, its failure opens it again.
//!
//! A deployment whose breaker is open is skipped. When every deployment left
//! in the chain is cooling, the request waits for the earliest to end, as
//! long as that is before the request's deadline ([`ModelRequest::timeout`],
//! or the router's `max_wait` when the request has none). Past the deadline
//! it fails at once with [`ErrorKind::Overloaded`] carrying the remaining
//! cooldown as `retry_after`.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//!
//! use forge_core::{
//!     BoxFuture, Content, Error, EventStream, Model, ModelRequest, ModelResponse, StopReason,
//! };
//! use forge_providers::router::{BreakerConfig, RouteConfig, Router};
//!
//! struct Named(&'static str);
//!
//! impl Model for Named {
//!     fn complete(&self, _: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
//!         let answer = ModelResponse::new(vec![Content::text(self.0)], StopReason::EndTurn);
//!         Box::pin(async move { Ok(answer) })
//!     }
//!
//!     fn stream(&self, _: ModelRequest) -> EventStream<'_> {
//!         Box::pin(futures_util::stream::empty())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let router = Router::builder()
//!     .deployment("small", Arc::new(Named("small")))
//!     .deployment("large", Arc::new(Named("large")))
//!     .rule(RouteConfig::new("large").min_prompt_tokens(10_000))
//!     .fallback(["large"])
//!     .breaker(BreakerConfig::new().failure_threshold(3))
//!     .build()
//!     .expect("valid router");
//!
//! let answer = router.complete(ModelRequest::default()).await?;
//! assert_eq!(answer.to_message().text(), "small");
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```

mod breaker;
mod builder;
mod config;
mod plan;
mod stream;

use std::{fmt, sync::Arc, time::Duration};

use forge_core::{
    BoxFuture, Error, ErrorKind, EventStream, Model, ModelRequest, ModelResponse, StreamEvent,
};
use tokio::sync::Notify;

pub use breaker::BreakerState;
pub use builder::RouterBuilder;
pub use config::{BreakerConfig, RouteConfig, RouterConfig};

use breaker::Breaker;
use plan::Plan;

/// A [`Model`] over named deployments; see the [module docs](self).
///
/// Built with [`Router::builder`]. Shared behind an `Arc<dyn Model>`, it is
/// `Send + Sync`; the breakers are shared by every caller.
pub struct Router {
    deployments: Vec<Deployment>,
    rules: Vec<Rule>,
    /// The chain of a request that matches no rule.
    default_chain: Vec<usize>,
    max_wait: Duration,
    /// Announces every breaker change that may let a waiting caller through.
    changed: Arc<Notify>,
}

struct Deployment {
    name: Arc<str>,
    model: Arc<dyn Model>,
    breaker: Breaker,
}

struct Rule {
    config: RouteConfig,
    chain: Vec<usize>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.deployments.iter().map(|d| &*d.name).collect();
        f.debug_struct("Router")
            .field("deployments", &names)
            .field("rules", &self.rules.len())
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Starts building a router.
    pub fn builder() -> RouterBuilder {
        RouterBuilder::new()
    }

    /// The deployments' names, in the order they were added.
    pub fn deployments(&self) -> impl Iterator<Item = &str> {
        self.deployments.iter().map(|d| &*d.name)
    }

    /// The breaker state of the deployment called `name`.
    pub fn breaker_state(&self, name: &str) -> Option<BreakerState> {
        self.deployments
            .iter()
            .find(|d| &*d.name == name)
            .map(|d| d.breaker.state())
    }

    /// The names of the deployments `request` would try, in order.
    pub fn chain(&self, request: &ModelRequest) -> Vec<&str> {
        let chain = self.chain_for(request);
        chain.iter().map(|&i| &*self.deployments[i].name).collect()
    }

    fn chain_for(&self, request: &ModelRequest) -> &[usize] {
        self.rules
            .iter()
            .find(|rule| rule.config.matches(request))
            .map_or(&self.default_chain, |rule| &rule.chain)
    }

    async fn complete_routed(&self, request: ModelRequest) -> Result<ModelResponse, Error> {
        let mut plan = Plan::new(self, &request);
        // Bounded: `Plan::next` hands out each deployment at most once.
        loop {
            let (index, attempt) = plan.next(self).await?;
            let deployment = &self.deployments[index];
            let call = deployment.model.complete(plan.attempt_request(&request));
            let outcome = match plan.deadline() {
                Some(deadline) => tokio::time::timeout_at(deadline, call)
                    .await
                    .unwrap_or_else(|_elapsed| Err(deadline_passed(&deployment.name))),
                None => call.await,
            };
            attempt.settle(outcome.as_ref().map(|_| ()));
            match outcome {
                Ok(response) => return Ok(response),
                Err(e) if falls_back(&e) => {
                    note_fallback(&deployment.name, &e);
                    plan.record_failure(e);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Model for Router {
    /// Sends `request` along its chain until a deployment answers.
    ///
    /// # Errors
    ///
    /// The first failure that does not fall back (see the
    /// [module docs](self)); the last failure when every deployment of the
    /// chain failed; [`ErrorKind::Timeout`] when the request's timeout
    /// passes; [`ErrorKind::Overloaded`] with a `retry_after` when every
    /// deployment left is cooling past the request's deadline.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; a probe it was making is
    /// handed to the next caller.
    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, Error>> {
        Box::pin(self.complete_routed(request))
    }

    /// Streams `request` from the first deployment of its chain that starts
    /// answering, falling back only before the first content event.
    ///
    /// Failures before content are handled as in [`Router::complete`] and end
    /// the stream as its only `Err` item; after content, the deployment's own
    /// error is passed on.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream abandons the request; a probe it was making is
    /// handed to the next caller.
    fn stream(&self, request: ModelRequest) -> EventStream<'_> {
        stream::open(self, request)
    }
}

/// Whether a failure moves on to the next deployment (see the module docs).
fn falls_back(error: &Error) -> bool {
    error.is_retryable()
        || matches!(
            error.kind(),
            ErrorKind::QuotaExhausted | ErrorKind::QueueFull
        )
}

fn deadline_passed(deployment: &str) -> Error {
    let message = format!("deployment {deployment}: the request's timeout passed");
    Error::new(ErrorKind::Timeout, message)
}

fn note_fallback(deployment: &str, error: &Error) {
    tracing::debug!(
        target: "forge_providers::router",
        deployment,
        "error.type" = error.kind().as_str(),
        "deployment failed; falling back"
    );
}

/// Whether `event` ends the part of a stream during which falling back is
/// still allowed.
fn commits(event: &StreamEvent) -> bool {
    event.is_content() || matches!(event, StreamEvent::Finish { .. })
}
