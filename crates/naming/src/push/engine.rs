//! The push delay engine: registry events in, due pushes out to a [`PushSink`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientId, Subscriber};
use crate::events::NamingEvent;
use crate::names::ServiceKey;
use crate::push::config::PushConfig;
use crate::push::plan::{PushPlan, Targets};
use crate::registry::Registry;
use crate::view::ServiceView;

/// Takes due pushes and delivers them (the server's connection layer implements it).
pub trait PushSink: Send + Sync + 'static {
    /// Hands one push over without blocking. Gives it back when it cannot take it now
    /// (the subscriber's queue is full); the engine then retries it after the retry delay.
    /// A subscriber that has no connection any more may simply drop the push.
    fn offer(&self, push: Push) -> Result<(), Box<Push>>;
}

/// One push of a service's current view to one subscriber.
pub struct Push {
    /// The service.
    pub service: ServiceKey,
    /// The subscriber's client (its connection id).
    pub client: ClientId,
    /// The subscription: its cluster filter selects the instances to send.
    pub subscriber: Subscriber,
    /// The service's view when the push became due.
    pub view: Arc<ServiceView>,
    schedule: Arc<Schedule>,
}

impl Push {
    /// Schedules this subscriber's push again after the retry delay; the retry sends the
    /// view current at that time, not this one.
    pub fn retry_later(&self) {
        let due = Instant::now() + self.schedule.retry_delay;
        self.schedule
            .add(self.service.clone(), Targets::one(self.client.clone()), due);
    }
}

#[cfg(test)]
impl Push {
    /// A push of an empty view, for queue tests.
    pub(crate) fn for_test(service: &str, client: &str) -> Self {
        let service = ServiceKey::new("", "", service);
        Self {
            view: Arc::new(ServiceView::missing(service.clone())),
            service,
            client: ClientId::new(client),
            subscriber: Subscriber::default(),
            schedule: Arc::new(Schedule {
                plan: Mutex::default(),
                wake: Notify::new(),
                delay: Duration::ZERO,
                retry_delay: Duration::ZERO,
            }),
        }
    }
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("service", &self.service)
            .field("client", &self.client)
            .field("hosts", &self.view.hosts.len())
            .finish()
    }
}

/// The pending pushes and the engine's wake-up, shared with [`Push::retry_later`].
struct Schedule {
    plan: Mutex<PushPlan>,
    wake: Notify,
    delay: Duration,
    retry_delay: Duration,
}

impl Schedule {
    fn add(&self, service: ServiceKey, targets: Targets, due: Instant) {
        let pending = {
            let mut plan = self.plan.lock();
            plan.add(service, targets, due);
            plan.len()
        };
        metrics::gauge!("naming_push_pending_services").set(pending as f64);
        // A stored permit wakes the engine even if it is not waiting yet.
        self.wake.notify_one();
    }
}

/// Merges changes per service and hands due pushes to the sink.
pub struct PushEngine {
    schedule: Arc<Schedule>,
    registry: Arc<Registry>,
    sink: Arc<dyn PushSink>,
}

impl PushEngine {
    /// An engine for `registry`'s subscribers delivering through `sink`. Call
    /// [`PushEngine::listen`] to feed it registry events and [`PushEngine::spawn`] to run it.
    pub fn new(registry: Arc<Registry>, sink: Arc<dyn PushSink>, config: &PushConfig) -> Arc<Self> {
        let schedule = Arc::new(Schedule {
            plan: Mutex::default(),
            wake: Notify::new(),
            delay: Duration::from_millis(config.delay_ms),
            retry_delay: Duration::from_millis(config.retry_delay_ms),
        });
        Arc::new(Self {
            schedule,
            registry,
            sink,
        })
    }

    /// Subscribes the engine to the registry's events. The bus holds only a weak
    /// reference, so a stopped engine does not keep the registry alive.
    pub fn listen(self: &Arc<Self>) {
        let engine: Weak<Self> = Arc::downgrade(self);
        self.registry
            .events()
            .subscribe(Arc::new(move |event: &NamingEvent| {
                if let Some(engine) = engine.upgrade() {
                    engine.on_event(event);
                }
            }));
    }

    /// Schedules the push an event calls for (changes and first subscriptions).
    pub fn on_event(&self, event: &NamingEvent) {
        let now = Instant::now();
        match event {
            NamingEvent::ServiceChanged(service) => self.service_changed(now, service.clone()),
            NamingEvent::ServiceSubscribed { service, client } => {
                self.subscribed(now, service.clone(), client.clone());
            }
            NamingEvent::ClientChanged(_) | NamingEvent::ClientRemoved(_) => {}
        }
    }

    /// A service's instances changed at `now`: push to all its subscribers after the delay.
    pub fn service_changed(&self, now: Instant, service: ServiceKey) {
        self.schedule
            .add(service, Targets::All, now + self.schedule.delay);
    }

    /// `client` subscribed to `service` for the first time: push to it alone, at once.
    pub fn subscribed(&self, now: Instant, service: ServiceKey, client: ClientId) {
        self.schedule.add(service, Targets::one(client), now);
    }

    /// Number of services with a pending push.
    pub fn pending(&self) -> usize {
        self.schedule.plan.lock().len()
    }

    /// Runs the engine until `shutdown` is cancelled.
    pub fn spawn(self: Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let next = self.run_due(Instant::now());
                let sleep = async {
                    match next {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.schedule.wake.notified() => {}
                    () = sleep => {}
                }
            }
        })
    }

    /// Executes every push due at `now`; returns the next deadline.
    fn run_due(&self, now: Instant) -> Option<Instant> {
        let (due, next) = {
            let mut plan = self.schedule.plan.lock();
            let due = plan.take_due(now);
            if !due.is_empty() {
                metrics::gauge!("naming_push_pending_services").set(plan.len() as f64);
            }
            (due, plan.next_due())
        };
        for (service, targets) in due {
            self.execute(service, &targets);
        }
        next
    }

    /// Offers the service's current view to each targeted subscriber on this node.
    fn execute(&self, service: ServiceKey, targets: &Targets) {
        let subscribers = self.registry.subscribers_of(&service);
        if subscribers.is_empty() {
            return;
        }
        let view = self.registry.view(&service);
        for (client, subscriber) in subscribers {
            if !targets.includes(&client) {
                continue;
            }
            let push = Push {
                service: service.clone(),
                client,
                subscriber,
                view: Arc::clone(&view),
                schedule: Arc::clone(&self.schedule),
            };
            if let Err(push) = self.sink.offer(push) {
                metrics::counter!("naming_push_total", "result" => "rejected").increment(1);
                push.retry_later();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::config::NamingConfig;
    use crate::instance::InstanceSpec;

    /// Records every push offered, with the (paused) time it was offered.
    struct Recorder(mpsc::UnboundedSender<(Instant, Push)>);

    impl PushSink for Recorder {
        fn offer(&self, push: Push) -> Result<(), Box<Push>> {
            let _ = self.0.send((Instant::now(), push));
            Ok(())
        }
    }

    struct Fixture {
        registry: Arc<Registry>,
        engine: Arc<PushEngine>,
        pushes: mpsc::UnboundedReceiver<(Instant, Push)>,
        service: ServiceKey,
        shutdown: CancellationToken,
    }

    /// Two connections (`a`, `b`) subscribed to one service with one instance.
    fn fixture(delay_ms: u64) -> Fixture {
        let registry = Arc::new(Registry::new(NamingConfig::default()));
        let service = ServiceKey::new("", "", "svc");
        let now = Instant::now();
        for id in ["a", "b", "publisher"] {
            registry.connect(now, ClientId::new(id));
        }
        for id in ["a", "b"] {
            registry
                .subscribe(now, &ClientId::new(id), &service, Subscriber::default())
                .unwrap();
        }
        let spec = InstanceSpec::new("10.0.0.1", 80);
        registry
            .register(now, &ClientId::new("publisher"), &service, spec)
            .unwrap();
        let (tx, pushes) = mpsc::unbounded_channel();
        let config = PushConfig {
            delay_ms,
            ..PushConfig::default()
        };
        let engine = PushEngine::new(Arc::clone(&registry), Arc::new(Recorder(tx)), &config);
        let shutdown = CancellationToken::new();
        Arc::clone(&engine).spawn(shutdown.clone());
        Fixture {
            registry,
            engine,
            pushes,
            service,
            shutdown,
        }
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    fn clients(pushes: &mut mpsc::UnboundedReceiver<(Instant, Push)>) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok((_, push)) = pushes.try_recv() {
            got.push(push.client.to_string());
        }
        got.sort();
        got
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_one_push_per_subscriber_after_the_delay() {
        let mut f = fixture(500);
        let t0 = Instant::now();
        f.engine.service_changed(t0, f.service.clone());
        tokio::time::advance(Duration::from_millis(200)).await;
        f.engine.service_changed(Instant::now(), f.service.clone());
        tokio::time::advance(Duration::from_millis(200)).await;
        f.engine.service_changed(Instant::now(), f.service.clone());
        tokio::time::advance(Duration::from_millis(99)).await;
        settle().await;
        assert!(
            clients(&mut f.pushes).is_empty(),
            "nothing before the first change's deadline"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        settle().await;
        let mut got = Vec::new();
        while let Ok((at, push)) = f.pushes.try_recv() {
            assert_eq!(at - t0, Duration::from_millis(500));
            assert_eq!(push.view.hosts.len(), 1, "the view is the current one");
            got.push(push.client.to_string());
        }
        got.sort();
        assert_eq!(got, vec!["a", "b"]);
        tokio::time::advance(Duration::from_secs(5)).await;
        settle().await;
        assert!(clients(&mut f.pushes).is_empty(), "merged: no second push");
        assert_eq!(f.engine.pending(), 0);
        f.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_subscription_is_pushed_at_once_to_that_subscriber_only() {
        let mut f = fixture(500);
        f.engine
            .subscribed(Instant::now(), f.service.clone(), ClientId::new("a"));
        settle().await;
        assert_eq!(clients(&mut f.pushes), vec!["a"]);
        f.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscription_during_a_pending_change_pulls_the_push_to_all_forward() {
        let mut f = fixture(500);
        f.engine.service_changed(Instant::now(), f.service.clone());
        f.engine
            .subscribed(Instant::now(), f.service.clone(), ClientId::new("a"));
        settle().await;
        assert_eq!(clients(&mut f.pushes), vec!["a", "b"]);
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert!(clients(&mut f.pushes).is_empty());
        f.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn zero_delay_pushes_immediately_and_retries_target_one_subscriber() {
        let mut f = fixture(0);
        f.engine.service_changed(Instant::now(), f.service.clone());
        settle().await;
        let (_, first) = f.pushes.try_recv().unwrap();
        let _ = f.pushes.try_recv().unwrap();
        first.retry_later();
        tokio::time::advance(Duration::from_millis(999)).await;
        settle().await;
        assert!(
            clients(&mut f.pushes).is_empty(),
            "retry waits the retry delay"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        settle().await;
        assert_eq!(clients(&mut f.pushes), vec![first.client.to_string()]);
        f.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn unsubscribed_clients_get_nothing() {
        let mut f = fixture(0);
        f.registry
            .unsubscribe(Instant::now(), &ClientId::new("b"), &f.service);
        f.engine.service_changed(Instant::now(), f.service.clone());
        settle().await;
        assert_eq!(clients(&mut f.pushes), vec!["a"]);
        f.shutdown.cancel();
    }
}
