//! Keeps each socket's events in the order they arrived, without a task per
//! event or per idle socket.
//!
//! socketioxide calls a message handler synchronously, in arrival order, on the
//! socket's read path; its closure handlers then spawn one task per event, and
//! tokio does not run spawned tasks in spawn order, so two ICE candidates sent
//! back to back could be relayed swapped. [`Dispatcher`] is a handler of our own
//! that does no such spawn: it charges the rate limit and queues the event on
//! the socket's [`Inbox`]. Whoever finds the inbox's [`Session`] at rest takes it
//! and starts one drain task, which works through the queue in order and puts
//! the session back when the queue is empty. An idle socket thus costs a parked
//! `Session`, not a parked task.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, MessageHandler};
use socketioxide::socket::Socket;

use super::sessions::Sessions;
use crate::adapter::Adapter;
use crate::limits::bucket::EventBudget;
use crate::protocol::RelayKind;
use crate::socket::error::EventError;
use crate::socket::packet::Packet;
use crate::socket::reply::{self, Ack};
use crate::socket::session::Session;
use crate::state::AppState;

/// What the drain task works through, in order.
pub enum Inbound {
    Event {
        event: &'static str,
        packet: Packet,
        ack: Option<AckSender<Adapter>>,
        received: Instant,
    },
    /// An event the rate limit refused while events before it were queued:
    /// answered in its turn, so that the replies keep the order of the events.
    Refused {
        event: &'static str,
        ack: Option<AckSender<Adapter>>,
    },
    Disconnected,
}

/// Refusals queued at most per socket; past it (a client far over its budget
/// while its queue is busy) they are answered at once, out of turn.
const MAX_QUEUED_REFUSALS: usize = 256;

/// Stored in the socket's extensions at admission.
#[derive(Clone)]
pub struct Inbox(Arc<InboxInner>);

struct InboxInner {
    queue: Mutex<Queue>,
    /// The session until [`Inbox::start`]: events queue up meanwhile.
    starting: Mutex<Option<Session>>,
    budget: EventBudget,
    state: Arc<AppState>,
    sessions: Sessions,
}

struct Queue {
    events: VecDeque<Inbound>,
    /// How many of `events` are refusals.
    refusals: usize,
    /// `Some` while no drain task runs; the running drain holds it otherwise.
    session: Option<Session>,
}

impl Inbox {
    pub fn new(session: Session, sessions: Sessions) -> Self {
        let state = session.state.clone();
        let budget = EventBudget::new(
            state.limits.rate_limit_burst,
            state.limits.rate_limit_per_sec,
        );
        Self(Arc::new(InboxInner {
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                refusals: 0,
                session: None,
            }),
            starting: Mutex::new(Some(session)),
            budget,
            state,
            sessions,
        }))
    }

    /// Lets the session handle events, those queued since admission first.
    /// Called from the connect handler: socketioxide marks a socket connected
    /// only after it has sent the CONNECT packet, and drops whatever is emitted
    /// to it before, while the client may already be sending events.
    pub fn start(&self) {
        let session = self.0.starting.lock().ok().and_then(|mut s| s.take());
        if let Some(session) = session {
            self.park(session);
        }
    }

    /// Queues the end of the socket: handled after every event before it.
    pub fn close(&self) {
        self.push(Inbound::Disconnected);
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.0.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, inbound: Inbound) {
        let idle_session = {
            let mut queue = self.lock();
            if matches!(inbound, Inbound::Refused { .. }) {
                queue.refusals += 1;
            }
            queue.events.push_back(inbound);
            queue.session.take()
        };
        if let Some(session) = idle_session {
            let inbox = self.clone();
            self.0.sessions.tasks.spawn(inbox.drain(session));
        }
    }

    /// Answers an event the rate limit refused: at once when nothing is
    /// queued before it, otherwise in its turn (within a bound).
    fn refuse(
        &self,
        s: &Arc<Socket<Adapter>>,
        event: &'static str,
        ack: Option<AckSender<Adapter>>,
    ) {
        if let Some(session) = self.take_idle() {
            answer(&session, event, Err(EventError::RateLimited), ack);
            self.park(session);
            return;
        }
        // Only this handler queues refusals, so the count cannot grow meanwhile.
        if self.lock().refusals >= MAX_QUEUED_REFUSALS {
            let err = EventError::RateLimited;
            self.0.state.metrics.error(err.code());
            err.send(
                &SocketRef::from(s.clone()),
                event,
                &self.0.state.errors,
                ack,
            );
            return;
        }
        self.0.sessions.in_flight.add();
        self.push(Inbound::Refused { event, ack });
    }

    /// Takes the parked session when nothing is queued, so the caller may
    /// handle an event at once, in order. Give it back with [`Inbox::park`].
    fn take_idle(&self) -> Option<Session> {
        let mut queue = self.lock();
        if queue.events.is_empty() {
            queue.session.take()
        } else {
            None
        }
    }

    /// Parks the session again, or, when events were queued meanwhile (a
    /// disconnect from another thread), starts the drain for them.
    fn park(&self, session: Session) {
        let mut queue = self.lock();
        if queue.events.is_empty() {
            queue.session = Some(session);
        } else {
            drop(queue);
            self.0.sessions.tasks.spawn(self.clone().drain(session));
        }
    }

    /// Handles queued events one after another; parks the session again when
    /// the queue runs dry, or ends it on `Disconnected`.
    async fn drain(self, mut session: Session) {
        loop {
            let next = {
                let mut queue = self.lock();
                match queue.events.pop_front() {
                    Some(next) => {
                        if matches!(next, Inbound::Refused { .. }) {
                            queue.refusals -= 1;
                        }
                        next
                    }
                    None => {
                        queue.session = Some(session);
                        return;
                    }
                }
            };
            match next {
                Inbound::Event {
                    event,
                    packet,
                    ack,
                    received,
                } => {
                    let table = self.0.sessions.table.clone();
                    let outcome = table.dispatch(&mut session, event, &packet, received).await;
                    answer(&session, event, outcome, ack);
                    self.0.sessions.in_flight.done();
                }
                Inbound::Refused { event, ack } => {
                    answer(&session, event, Err(EventError::RateLimited), ack);
                    self.0.sessions.in_flight.done();
                }
                Inbound::Disconnected => {
                    self.0
                        .sessions
                        .table
                        .clone()
                        .disconnected(&mut session)
                        .await;
                    session.state.metrics.sockets.dec();
                    return;
                }
            }
        }
    }
}

/// The socket's one message handler (registered as the fallback, so it sees
/// every event). Runs synchronously, in arrival order.
#[derive(Clone, Copy)]
pub struct Dispatcher;

impl MessageHandler<Adapter, Dispatcher> for Dispatcher {
    fn call(&self, s: Arc<Socket<Adapter>>, mut v: socketioxide_core::Value, ack_id: Option<i64>) {
        let received = Instant::now();
        let Some(Inbox(inbox)) = s.extensions.get::<Inbox>() else {
            return;
        };
        let ack = ack_id.map(|_| {
            AckSender::from_message_parts(&s, &mut v, &ack_id)
                .unwrap_or_else(|never| match never {})
        });
        let packet = Packet::new(v);
        // socketioxide hands this handler every event unread
        // (`on_fallback_checked`): a name it could not have read (not a
        // string, or one with escapes) closes the connection, as it did.
        let Some(Cow::Borrowed(name)) = packet.event() else {
            s.close_unparsable();
            return;
        };
        // An event no handler has costs no token and gets no reply, as on NestJS.
        let Some(event) = inbox.sessions.table.handled(name) else {
            parses(&s, &packet);
            return;
        };

        let allowed = inbox.budget.take();
        let inbox = Inbox(inbox);
        if !allowed {
            if parses(&s, &packet) {
                inbox.refuse(&s, event, ack);
            }
            return;
        }
        // A relay's own read covers the whole packet (`relay::check` parses it
        // before anything else): its failure is the only time the packet
        // needs socketioxide's check. Other events are checked first.
        let relay = RelayKind::from_event(event).is_some();
        if !relay && !parses(&s, &packet) {
            return;
        }
        // Hot path: an event with nothing queued before it, handled right here
        // without a task hop when it needs no waiting (see `dispatch_now`).
        let mut checked = !relay;
        if let Some(mut session) = inbox.take_idle() {
            let outcome =
                inbox
                    .0
                    .sessions
                    .table
                    .dispatch_now(&mut session, event, &packet, received);
            match outcome {
                Some(Err(_)) if relay && !parses(&s, &packet) => {
                    inbox.park(session);
                    return;
                }
                Some(outcome) => {
                    answer(&session, event, outcome, ack);
                    inbox.park(session);
                    return;
                }
                // A relay that has to wait was read whole first.
                None => {
                    checked = true;
                    inbox.park(session);
                }
            }
        }
        if !checked && !parses(&s, &packet) {
            return;
        }
        // The drain counts it done once the event is answered.
        inbox.0.sessions.in_flight.add();
        inbox.push(Inbound::Event {
            event,
            packet,
            ack,
            received,
        });
    }
}

/// Whether socketioxide would have handed the event's packet to a handler
/// (its name readable, the arguments after it well-formed JSON); a packet it
/// would not have closes the connection, as socketioxide closed it.
fn parses(s: &Socket<Adapter>, packet: &Packet) -> bool {
    let parses = s.event_parses(packet.value());
    if !parses {
        s.close_unparsable();
    }
    parses
}

/// Answers one of the session's events, in its turn ([`reply::answer`]).
fn answer(
    session: &Session,
    event: &'static str,
    outcome: Result<Ack, EventError>,
    ack: Option<AckSender<Adapter>>,
) {
    reply::answer(
        &session.replies,
        &session.socket,
        &session.state,
        event,
        outcome,
        ack,
    );
}
