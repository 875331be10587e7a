//! One peer connection: how it is built, what its driver reports to the
//! actor, and the tasks that read and write its data channel.

use std::net::UdpSocket;
use std::sync::Arc;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::transport::RTCDtlsRole;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder,
};

use super::command::{Outgoing, WriteRequest};
use super::config::{MdnsMode, PeerConfig};
use super::events::{MessageKind, PeerError, PeerMessage};
use super::framing::{self, Reassembler};
use super::runtime::BufferedRuntime;
use crate::signaling::{IceServer, PeerId};

/// What a peer connection's driver and channel tasks report to the actor.
/// Every report carries the connection's generation, so reports from a
/// connection that was since replaced are recognised and dropped.
pub(crate) enum Report {
    LocalCandidate {
        peer: PeerId,
        generation: u64,
        candidate: String,
    },
    State {
        peer: PeerId,
        generation: u64,
        state: RTCPeerConnectionState,
    },
    RemoteChannel {
        peer: PeerId,
        generation: u64,
        channel: Arc<dyn DataChannel>,
    },
    ChannelOpen {
        peer: PeerId,
        generation: u64,
    },
    ChannelClosed {
        peer: PeerId,
        generation: u64,
    },
    /// A newcomer's wait for an offer is over.
    OfferDue {
        peer: PeerId,
    },
    /// A connection's time to connect is over.
    ConnectDue {
        peer: PeerId,
        generation: u64,
    },
}

/// Reports are unbounded on purpose: the driver calling these handlers may be
/// what the actor is waiting on, so they must never wait; a connection
/// reports a handful of candidates and state changes.
pub(crate) struct Handler {
    pub peer: PeerId,
    pub generation: u64,
    pub reports: mpsc::UnboundedSender<Report>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                let _ = self.reports.send(Report::LocalCandidate {
                    peer: self.peer.clone(),
                    generation: self.generation,
                    candidate: init.candidate,
                });
            }
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "unserializable local candidate")
            }
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.reports.send(Report::State {
            peer: self.peer.clone(),
            generation: self.generation,
            state,
        });
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.reports.send(Report::RemoteChannel {
            peer: self.peer.clone(),
            generation: self.generation,
            channel,
        });
    }
}

/// Settings resolved once for all connections.
pub(crate) struct Builder {
    pub udp_addrs: Vec<String>,
    /// `Some(true)`: build with query-only mDNS; `Some(false)`: disabled;
    /// `None`: try query-only, fall back to disabled (and remember).
    pub mdns: Option<bool>,
    pub send_buffer_limit: usize,
}

impl Builder {
    pub fn new(config: &PeerConfig) -> Self {
        let udp_addrs = if config.udp_addrs.is_empty() {
            default_udp_addrs()
        } else {
            config.udp_addrs.clone()
        };
        let mdns = match config.mdns {
            MdnsMode::Auto => None,
            MdnsMode::QueryOnly => Some(true),
            MdnsMode::Disabled => Some(false),
        };
        Self {
            udp_addrs,
            mdns,
            send_buffer_limit: config.send_buffer_limit,
        }
    }

    pub async fn build(
        &mut self,
        ice_servers: &[IceServer],
        handler: Handler,
    ) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
        let handler = Arc::new(handler);
        match self.mdns {
            Some(query) => self.build_with(ice_servers, handler, query).await,
            None => match self.build_with(ice_servers, handler.clone(), true).await {
                Ok(pc) => {
                    self.mdns = Some(true);
                    Ok(pc)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "mDNS query mode unavailable; disabling mDNS");
                    let pc = self.build_with(ice_servers, handler, false).await?;
                    self.mdns = Some(false);
                    Ok(pc)
                }
            },
        }
    }

    async fn build_with(
        &self,
        ice_servers: &[IceServer],
        handler: Arc<Handler>,
        mdns_query: bool,
    ) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
        let loopback = self
            .udp_addrs
            .iter()
            .any(|a| a.starts_with("127.") || a.starts_with("[::1]"));
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(if mdns_query {
                MulticastDnsMode::QueryOnly
            } else {
                MulticastDnsMode::Disabled
            })
            // Chromium expects the answerer to take the DTLS server role.
            .with_answering_dtls_role(RTCDtlsRole::Server)
            .with_include_loopback_candidate(loopback)
            .build();
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(
                ice_servers
                    .iter()
                    .map(|s| RTCIceServer {
                        urls: s.urls.clone(),
                        username: s.username.clone().unwrap_or_default(),
                        credential: s.credential.clone().unwrap_or_default(),
                    })
                    .collect(),
            )
            .build();
        let mut builder = PeerConnectionBuilder::new();
        if let Some(runtime) = BufferedRuntime::shared() {
            builder = builder.with_runtime(runtime);
        }
        let pc = builder
            .with_configuration(config)
            .with_setting_engine(settings)
            .with_handler(handler)
            .with_udp_addrs(self.udp_addrs.clone())
            .with_data_channel_send_buffer_limit(self.send_buffer_limit)
            .build()
            .await?;
        Ok(Arc::new(pc))
    }
}

/// `0.0.0.0:0` when the host can route out, `127.0.0.1:0` on a loopback-only
/// host (where a wildcard bind yields no usable host candidate).
fn default_udp_addrs() -> Vec<String> {
    let routable = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| !a.ip().is_loopback() && !a.ip().is_unspecified())
        .unwrap_or(false);
    if routable {
        vec!["0.0.0.0:0".into()]
    } else {
        vec!["127.0.0.1:0".into()]
    }
}

/// Reads a data channel until it closes: open/close go to the actor's
/// reports, messages to its bounded message queue. Waiting on that queue
/// stops reading, which lets SCTP hold the sender back.
pub(crate) async fn read_channel(
    peer: PeerId,
    generation: u64,
    channel: Arc<dyn DataChannel>,
    framed: bool,
    max_message: usize,
    reports: mpsc::UnboundedSender<Report>,
    messages: mpsc::Sender<PeerMessage>,
) {
    let mut reassembler = Reassembler::new(max_message);
    while let Some(event) = channel.poll().await {
        let message = match event {
            DataChannelEvent::OnOpen => {
                let _ = reports.send(Report::ChannelOpen {
                    peer: peer.clone(),
                    generation,
                });
                continue;
            }
            DataChannelEvent::OnClose => break,
            DataChannelEvent::OnMessage(msg) if msg.is_string => PeerMessage {
                from: peer.clone(),
                data: msg.data.freeze(),
                kind: MessageKind::Text,
            },
            DataChannelEvent::OnMessage(msg) if !framed => PeerMessage {
                from: peer.clone(),
                data: msg.data.freeze(),
                kind: MessageKind::Binary,
            },
            DataChannelEvent::OnMessage(msg) => match reassembler.push(&msg.data) {
                Ok(Some(data)) => PeerMessage {
                    from: peer.clone(),
                    data,
                    kind: MessageKind::Binary,
                },
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(peer = %peer, error = %e, "dropped a bad frame");
                    continue;
                }
            },
            _ => continue,
        };
        if messages.send(message).await.is_err() {
            break;
        }
    }
    let _ = reports.send(Report::ChannelClosed { peer, generation });
}

/// Writes queued messages to a data channel, one at a time: binary messages
/// chunked when the channel is framed, text whole.
pub(crate) async fn write_channel(
    peer: PeerId,
    channel: Arc<dyn DataChannel>,
    framed: bool,
    mut requests: mpsc::Receiver<WriteRequest>,
) {
    while let Some(WriteRequest { data, done }) = requests.recv().await {
        let too_large = |size, limit| PeerError::TooLarge {
            peer: peer.clone(),
            size,
            limit,
        };
        let result = match data {
            Outgoing::Text(text) if text.len() > framing::MAX_TEXT => {
                Err(too_large(text.len(), framing::MAX_TEXT))
            }
            Outgoing::Text(text) => channel.send_text(&text).await.map_err(channel_error),
            Outgoing::Binary(data) if framed => send_framed(&*channel, &data).await,
            Outgoing::Binary(data) if data.len() > framing::MAX_RAW => {
                Err(too_large(data.len(), framing::MAX_RAW))
            }
            Outgoing::Binary(data) => channel
                .send(bytes::BytesMut::from(&data[..]))
                .await
                .map_err(channel_error),
        };
        let _ = done.send(result);
    }
}

fn channel_error(e: webrtc::error::Error) -> PeerError {
    PeerError::Channel(e.to_string())
}

async fn send_framed(channel: &dyn DataChannel, data: &[u8]) -> Result<(), PeerError> {
    for frame in framing::frames(data) {
        channel.send(frame).await.map_err(channel_error)?;
    }
    Ok(())
}

/// The first `a=mid:` and `a=ice-ufrag:` of an SDP.
pub(crate) fn mid_and_ufrag(sdp: &str) -> (Option<String>, Option<String>) {
    let mut mid = None;
    let mut ufrag = None;
    for line in sdp.lines() {
        let line = line.trim_end();
        if mid.is_none()
            && let Some(m) = line.strip_prefix("a=mid:")
        {
            mid = Some(m.to_owned());
        }
        if ufrag.is_none()
            && let Some(u) = line.strip_prefix("a=ice-ufrag:")
        {
            ufrag = Some(u.to_owned());
        }
    }
    (mid, ufrag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_and_ufrag_come_from_the_sdp() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=mid:0\r\n";
        assert_eq!(
            mid_and_ufrag(sdp),
            (Some("0".to_owned()), Some("abcd".to_owned()))
        );
        assert_eq!(mid_and_ufrag(""), (None, None));
    }
}
