//! Who hears what: event subscribers, and the delivery task that hands peer
//! messages to message subscribers (keeping them for the first one while
//! nobody listens).

use std::collections::VecDeque;

use tokio::sync::{mpsc, oneshot};

use super::events::{PeerEvent, PeerMessage};
use crate::signaling::PeerId;

/// Messages waiting between the channels' readers and the delivery task.
pub(crate) const MESSAGE_QUEUE: usize = 256;
/// Messages a subscriber may have unread before delivery waits for it.
const SUBSCRIPTION_QUEUE: usize = 256;
/// Messages kept for the first subscriber while nobody listens: the oldest
/// go first past either bound.
const UNCLAIMED_MESSAGES: usize = 65_536;
const UNCLAIMED_BYTES: usize = 64 * 1024 * 1024;

/// The actor's event subscribers.
///
/// Their queues are unbounded on purpose: the actor must never wait on an
/// application that is slow to read (negotiation would stall for every peer),
/// and events are few — a handful per peer and per gateway event, and gateway
/// events arrive through the bounded signaling queue.
#[derive(Default)]
pub(crate) struct EventSubscribers {
    subs: Vec<mpsc::UnboundedSender<PeerEvent>>,
}

impl EventSubscribers {
    /// A new subscription, starting with a `ChannelOpen` per open peer.
    pub fn subscribe(
        &mut self,
        open: impl IntoIterator<Item = PeerId>,
    ) -> mpsc::UnboundedReceiver<PeerEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        for id in open {
            let _ = tx.send(PeerEvent::ChannelOpen(id));
        }
        self.subs.push(tx);
        rx
    }

    /// Sends `event` to every live subscriber; drops the gone ones.
    pub fn emit(&mut self, event: PeerEvent) {
        self.subs.retain(|s| s.send(event.clone()).is_ok());
    }
}

/// A request for a message subscription.
pub(crate) type Subscribe = oneshot::Sender<mpsc::Receiver<PeerMessage>>;

/// Runs the delivery of peer messages until the readers and the actor are
/// gone. It waits for a subscriber whose queue is full, so a slow application
/// holds back the readers and, through SCTP, the sending peers; negotiation
/// is not in this path.
pub(crate) async fn deliver(
    mut messages: mpsc::Receiver<PeerMessage>,
    mut subscribe: mpsc::UnboundedReceiver<Subscribe>,
) {
    let mut subs: Vec<mpsc::Sender<PeerMessage>> = Vec::new();
    let mut unclaimed = Unclaimed::default();
    let mut subscribing = true;
    loop {
        tokio::select! {
            request = subscribe.recv(), if subscribing => match request {
                Some(reply) => {
                    let (tx, rx) = mpsc::channel(SUBSCRIPTION_QUEUE);
                    if reply.send(rx).is_err() {
                        continue;
                    }
                    for m in unclaimed.drain() {
                        if tx.send(m).await.is_err() {
                            break;
                        }
                    }
                    subs.push(tx);
                }
                None => subscribing = false,
            },
            message = messages.recv() => {
                let Some(message) = message else { break };
                subs.retain(|s| !s.is_closed());
                if subs.is_empty() {
                    unclaimed.push(message);
                    continue;
                }
                let mut alive = Vec::with_capacity(subs.len());
                for s in subs.drain(..) {
                    if s.send(message.clone()).await.is_ok() {
                        alive.push(s);
                    }
                }
                subs = alive;
            }
        }
    }
}

/// Messages that arrived while nobody subscribed, bounded in count and bytes.
#[derive(Default)]
struct Unclaimed {
    queue: VecDeque<PeerMessage>,
    bytes: usize,
}

impl Unclaimed {
    fn push(&mut self, message: PeerMessage) {
        self.bytes += message.data.len();
        self.queue.push_back(message);
        while self.queue.len() > UNCLAIMED_MESSAGES || self.bytes > UNCLAIMED_BYTES {
            match self.queue.pop_front() {
                Some(old) => self.bytes -= old.data.len(),
                None => break,
            }
        }
    }

    fn drain(&mut self) -> impl Iterator<Item = PeerMessage> + '_ {
        self.bytes = 0;
        self.queue.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer_manager::MessageKind;

    fn msg(n: usize, len: usize) -> PeerMessage {
        PeerMessage {
            from: format!("p{n}"),
            data: vec![0u8; len].into(),
            kind: MessageKind::Binary,
        }
    }

    #[test]
    fn unclaimed_messages_are_bounded_oldest_first() {
        let mut u = Unclaimed::default();
        for n in 0..UNCLAIMED_MESSAGES + 3 {
            u.push(msg(n, 0));
        }
        assert_eq!(u.queue.len(), UNCLAIMED_MESSAGES);
        assert_eq!(u.queue[0].from, "p3");
        let mut u = Unclaimed::default();
        u.push(msg(0, UNCLAIMED_BYTES / 2));
        u.push(msg(1, UNCLAIMED_BYTES / 2));
        u.push(msg(2, 1));
        let kept: Vec<_> = u.drain().map(|m| m.from).collect();
        assert_eq!(kept, ["p1", "p2"]);
        assert_eq!(u.bytes, 0);
    }

    #[tokio::test]
    async fn the_first_subscriber_gets_what_came_before_then_everyone_gets_each() {
        let (tx, rx) = mpsc::channel(4);
        let (sub_tx, sub_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(deliver(rx, sub_rx));
        tx.send(msg(0, 1)).await.expect("queue");
        let subscribe = || async {
            let (reply, answer) = oneshot::channel();
            sub_tx.send(reply).expect("subscribe");
            answer.await.expect("subscription")
        };
        // Whether delivery took the message before the request or after, the
        // first subscriber gets it.
        let mut first = subscribe().await;
        assert_eq!(first.recv().await.map(|m| m.from).as_deref(), Some("p0"));
        let mut second = subscribe().await;
        tx.send(msg(1, 1)).await.expect("queue");
        assert_eq!(first.recv().await.map(|m| m.from).as_deref(), Some("p1"));
        assert_eq!(second.recv().await.map(|m| m.from).as_deref(), Some("p1"));
        drop(tx);
        drop(sub_tx);
        task.await.expect("delivery ends");
    }
}
