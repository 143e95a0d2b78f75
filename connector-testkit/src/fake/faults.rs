//! Scripted and seeded-random fault injection.
//!
//! Every route a [`FakeApi`](super::FakeApi) serves asks its [`FaultPlan`] before
//! answering. Scripted [`FaultRule`]s fire on the next matching requests (a route,
//! a page, a request number); a seeded random mode injects faults with a given
//! probability, deterministic per seed for a given request order. Injected faults
//! are recorded, so a test can assert what happened.
//!
//! Faults that HTTP alone can express live here (status codes with `Retry-After`,
//! slow responses, malformed or truncated JSON, a duplicated page, a wrong content
//! type). A reset connection needs a socket: see [`ResetProxy`](super::ResetProxy).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::rng::SplitMix64;

/// One way to misbehave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `status` with the vendor's error body, and `Retry-After` in seconds
    /// when set.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` to send.
        retry_after: Option<Duration>,
    },
    /// Answer normally, but only after `delay` (set it beyond the client's timeout).
    Delay(Duration),
    /// `200` with a `Content-Type: application/json` body that is not JSON.
    MalformedJson,
    /// `200` with the page's body cut in half.
    TruncatedBody,
    /// Answer with the previous response of the same route again (same items, same
    /// next-page token).
    DuplicatePage,
    /// `200` with an HTML maintenance page.
    WrongContentType,
    /// `400` whose body echoes every request header verbatim, credentials
    /// included, as some vendors do: the connector must scrub it before the body
    /// reaches an error or a log.
    EchoRequest,
}

impl Fault {
    /// `429 Too Many Requests` with `Retry-After: secs`.
    pub fn too_many_requests(secs: u64) -> Self {
        Fault::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    /// `503 Service Unavailable` without `Retry-After`.
    pub fn unavailable() -> Self {
        Self::status(503)
    }

    /// Any status, without `Retry-After`.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// A response slower than `delay`.
    pub fn slow(delay: Duration) -> Self {
        Fault::Delay(delay)
    }

    /// A short name for logs and assertions (`429`, `slow 60s`, `malformed-json`).
    pub fn name(&self) -> String {
        match self {
            Fault::Status {
                status,
                retry_after: Some(wait),
            } => format!("{status} retry-after {}s", wait.as_secs()),
            Fault::Status { status, .. } => status.to_string(),
            Fault::Delay(d) => format!("slow {}ms", d.as_millis()),
            Fault::MalformedJson => "malformed-json".to_owned(),
            Fault::TruncatedBody => "truncated-body".to_owned(),
            Fault::DuplicatePage => "duplicate-page".to_owned(),
            Fault::WrongContentType => "wrong-content-type".to_owned(),
            Fault::EchoRequest => "echo-request".to_owned(),
        }
    }
}

/// When a scripted fault fires. By default: once, on the next request of any route.
///
/// ```
/// use connector_testkit::fake::{Fault, FaultRule};
///
/// // A 429 on the second page (index 1) of `issues`, once.
/// let rule = FaultRule::new(Fault::too_many_requests(7)).on_route("issues").on_page(1);
/// // 503 for the first three requests.
/// let outage = FaultRule::new(Fault::unavailable()).times(3);
/// # let _ = (rule, outage);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    fault: Fault,
    route: Option<String>,
    page: Option<u64>,
    request: Option<u64>,
    remaining: Option<u32>,
}

impl FaultRule {
    /// `fault`, once, on the next request.
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            route: None,
            page: None,
            request: None,
            remaining: Some(1),
        }
    }

    /// Only requests of the route (collection or endpoint) called `name`.
    pub fn on_route(mut self, name: impl Into<String>) -> Self {
        self.route = Some(name.into());
        self
    }

    /// Only requests for the page at `index` (0 is the first page).
    pub fn on_page(mut self, index: u64) -> Self {
        self.page = Some(index);
        self
    }

    /// Only the request with sequence number `seq` (1 is the fake's first request).
    pub fn on_request(mut self, seq: u64) -> Self {
        self.request = Some(seq);
        self
    }

    /// Fires on `n` matching requests instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fires on every matching request.
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    fn matches(&self, ctx: &FaultContext<'_>) -> bool {
        self.remaining != Some(0)
            && self.route.as_deref().is_none_or(|r| r == ctx.route)
            && self.page.is_none_or(|p| ctx.page == Some(p))
            && self.request.is_none_or(|n| n == ctx.seq)
    }
}

/// A fault that was injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The request's sequence number.
    pub seq: u64,
    /// The route it hit.
    pub route: String,
    /// The fault.
    pub fault: Fault,
}

/// What a route knows about a request when it asks the plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultContext<'a> {
    pub(crate) seq: u64,
    pub(crate) route: &'a str,
    pub(crate) page: Option<u64>,
}

#[derive(Debug, Default)]
struct PlanState {
    rules: Vec<FaultRule>,
    random: Option<RandomFaults>,
    injected: Vec<InjectedFault>,
}

#[derive(Debug)]
struct RandomFaults {
    rng: SplitMix64,
    per_mille: u32,
    faults: Vec<Fault>,
    route: Option<String>,
}

/// The faults a fake will inject; cheap to clone, clones share the plan.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan(Arc<Mutex<PlanState>>);

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, PlanState> {
        // A panic elsewhere while holding the lock leaves the plan usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a scripted rule. Rules are tried in the order they were added.
    pub fn push(&self, rule: FaultRule) -> &Self {
        self.state().rules.push(rule);
        self
    }

    /// `fault` on the next `n` requests of any route ("503 for the first N").
    pub fn first_requests(&self, n: u32, fault: Fault) -> &Self {
        self.push(FaultRule::new(fault).times(n))
    }

    /// Injects one of `faults` into each request (of `route`, or of every route)
    /// with probability `per_mille / 1000`, drawn from a SplitMix64 seeded with
    /// `seed`: the same seed and the same request order give the same faults.
    /// Scripted rules take precedence.
    pub fn seeded(
        &self,
        seed: u64,
        per_mille: u32,
        faults: Vec<Fault>,
        route: Option<&str>,
    ) -> &Self {
        self.state().random = Some(RandomFaults {
            rng: SplitMix64::new(seed),
            per_mille,
            faults,
            route: route.map(str::to_owned),
        });
        self
    }

    /// Removes every rule and the random mode; the record of injected faults stays.
    pub fn clear(&self) {
        let mut state = self.state();
        state.rules.clear();
        state.random = None;
    }

    /// The faults injected so far, in order.
    pub fn injected(&self) -> Vec<InjectedFault> {
        self.state().injected.clone()
    }

    /// Whether any rule can still fire.
    pub fn is_pending(&self) -> bool {
        let state = self.state();
        state.random.is_some() || state.rules.iter().any(|r| r.remaining != Some(0))
    }

    pub(crate) fn take(&self, ctx: &FaultContext<'_>) -> Option<Fault> {
        let mut state = self.state();
        let scripted = state.rules.iter_mut().find(|r| r.matches(ctx)).map(|rule| {
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            rule.fault.clone()
        });
        let fault = scripted.or_else(|| {
            let random = state.random.as_mut()?;
            if random.route.as_deref().is_some_and(|r| r != ctx.route) || random.faults.is_empty() {
                return None;
            }
            if !random.rng.chance(random.per_mille) {
                return None;
            }
            let i = random.rng.below(random.faults.len() as u64) as usize;
            random.faults.get(i).cloned()
        })?;
        state.injected.push(InjectedFault {
            seq: ctx.seq,
            route: ctx.route.to_owned(),
            fault: fault.clone(),
        });
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(seq: u64, route: &str, page: Option<u64>) -> FaultContext<'_> {
        FaultContext { seq, route, page }
    }

    #[test]
    fn scripted_rules_fire_where_and_as_often_as_told() {
        let plan = FaultPlan::new();
        plan.push(
            FaultRule::new(Fault::too_many_requests(3))
                .on_route("a")
                .on_page(1),
        );
        plan.first_requests(2, Fault::unavailable());
        assert_eq!(plan.take(&ctx(1, "a", Some(0))), Some(Fault::unavailable()));
        assert_eq!(
            plan.take(&ctx(2, "a", Some(1))),
            Some(Fault::too_many_requests(3))
        );
        assert_eq!(plan.take(&ctx(3, "b", Some(1))), Some(Fault::unavailable()));
        assert_eq!(plan.take(&ctx(4, "a", Some(1))), None);
        assert!(!plan.is_pending());
        assert_eq!(plan.injected().len(), 3);
    }

    #[test]
    fn seeded_faults_are_deterministic_per_seed() {
        let run = |seed| {
            let plan = FaultPlan::new();
            plan.seeded(
                seed,
                300,
                vec![Fault::unavailable(), Fault::MalformedJson],
                None,
            );
            (1..=200)
                .map(|i| plan.take(&ctx(i, "r", None)).map(|f| f.name()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let hits = run(1).iter().flatten().count();
        assert!((30..=90).contains(&hits), "about 30% of 200: {hits}");
    }
}
