// The mesh: one RTCPeerConnection and one data channel per other peer of the
// room, negotiated through the gateway's relays (docs/PROTOCOL.md §3,
// docs/DATA-CHANNELS.md §1-2).
//
// Who offers: a peer already in the room offers to each newcomer when
// `peer:joined` arrives (as the incumbent frontend does); the newcomer
// answers. Glare: the peer with the greater id is polite, drops its own
// connection and answers; the other ignores the colliding offer. ICE trickles
// as the browser's RTCIceCandidateInit; candidates that arrive before the
// offer or answer wait for it.

import { PROTOCOL } from './framing.js';
import { PeerLink } from './link.js';

/** Candidates kept per peer while its description is not applied yet. */
const MAX_PENDING_CANDIDATES = 256;
/** New connections an offerer tries after a failed one, per peer. */
const MAX_REOFFERS = 3;
const REOFFER_DELAY_MS = 1000;
const KINDS = ['audio', 'video'];

/**
 * One other peer: `id` (its socket id), `userInfo` ({ userId, username },
 * null until the gateway names it), `state` (the connection's state, or
 * 'waiting' for its offer), `channel` (the data channel's readyState),
 * `media` ({ audio, video } as its `media:state` says), `stream` (its media).
 */
class Peer {
  constructor(id, userInfo) {
    this.id = id;
    this.userInfo = userInfo;
    this.state = 'waiting';
    this.channel = 'none';
    this.media = { audio: true, video: true };
    this.stream = null;
    this.pc = null;
    this.dc = null;
    this.link = null;
    this.offerer = false;
    this.reoffers = 0;
    this.pending = [];
    // Signaling for one peer is applied in arrival order, one step at a time.
    this.ops = Promise.resolve();
  }

  get name() {
    return this.userInfo?.username || this.id;
  }
}

export class Mesh {
  /**
   * `signal(event, payload)` emits to the gateway. `events`: `peer(peer)` on
   * any change of a peer, `gone(peerId)`, `chat(peer, text)`,
   * `transfer(peer, t)`, `problem(peer, message)`.
   */
  constructor({ selfId, iceServers, localStream, signal, events }) {
    this.selfId = selfId;
    this.iceServers = iceServers ?? [];
    this.localStream = localStream;
    this.signal = signal;
    this.events = events;
    this.peers = new Map();
    this.closed = false;
  }

  /** The others listed in `room:joined`: they offer to us. */
  welcome(peers) {
    for (const { id, userInfo } of peers) this.record(id, userInfo);
  }

  /** `peer:joined`: we were here first, so we offer. */
  joined(peerId, userInfo) {
    const old = this.peers.get(peerId);
    if (old) this.closeConnection(old);
    const peer = this.record(peerId, userInfo);
    peer.reoffers = 0;
    this.step(peer, () => this.offer(peer));
  }

  /** `peer:left`. */
  left(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    this.closeConnection(peer);
    this.peers.delete(peerId);
    this.events.gone(peerId);
  }

  onOffer({ fromPeerId, offer }) {
    const peer = this.peers.get(fromPeerId) ?? this.record(fromPeerId, null);
    this.step(peer, () => this.answer(peer, offer));
  }

  onAnswer({ fromPeerId, answer }) {
    const peer = this.peers.get(fromPeerId);
    if (!peer) return;
    this.step(peer, async () => {
      // A duplicate, or an answer to a connection we replaced: nothing to do.
      if (peer.pc?.signalingState !== 'have-local-offer') return;
      await peer.pc.setRemoteDescription(answer);
      await this.flushCandidates(peer);
    });
  }

  onIce({ fromPeerId, candidate }) {
    const init = typeof candidate === 'string' ? { candidate, sdpMLineIndex: 0 } : candidate;
    // End-of-candidates: nothing to add.
    if (!init || !init.candidate) return;
    const peer = this.peers.get(fromPeerId) ?? this.record(fromPeerId, null);
    this.step(peer, async () => {
      if (!peer.pc?.remoteDescription) {
        if (peer.pending.length < MAX_PENDING_CANDIDATES) peer.pending.push(init);
        return;
      }
      await this.addCandidate(peer, init);
    });
  }

  /** `media:state_changed` of another peer. */
  mediaState({ peerId, isVideoEnabled, isAudioEnabled }) {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.media = { audio: isAudioEnabled, video: isVideoEnabled };
    this.events.peer(peer);
  }

  /** Every peer whose data channel is open. */
  links() {
    return [...this.peers.values()].filter((p) => p.link?.open);
  }

  close() {
    this.closed = true;
    for (const id of [...this.peers.keys()]) this.left(id);
  }

  // --- negotiation ---

  record(id, userInfo) {
    let peer = this.peers.get(id);
    if (!peer) {
      peer = new Peer(id, userInfo);
      this.peers.set(id, peer);
    } else if (userInfo) {
      peer.userInfo = userInfo;
    }
    this.events.peer(peer);
    return peer;
  }

  step(peer, op) {
    peer.ops = peer.ops
      .then(() => (this.closed || this.peers.get(peer.id) !== peer ? undefined : op()))
      .catch((err) => this.events.problem(peer, `signaling with ${peer.name} failed: ${err.message ?? err}`));
  }

  async offer(peer) {
    const pc = this.connect(peer);
    peer.offerer = true;
    // The offerer creates the one channel before the offer (DATA-CHANNELS.md §2).
    this.attach(peer, pc.createDataChannel('data', { ordered: true, protocol: PROTOCOL }));
    for (const kind of KINDS) {
      const track = this.localTrack(kind);
      if (track) pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.localStream] });
      else pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    await pc.setLocalDescription(await pc.createOffer());
    this.signal('webrtc:offer', { targetPeerId: peer.id, offer: description(pc.localDescription) });
  }

  async answer(peer, offer) {
    let pc = peer.pc;
    if (pc?.signalingState === 'have-local-offer') {
      // Glare. Socket ids are ASCII: string order is byte order.
      if (!(this.selfId > peer.id)) return;
      this.closeConnection(peer);
      pc = null;
    }
    if (pc && pc.remoteDescription?.sdp === offer.sdp) return; // a duplicate
    const fresh = !pc;
    if (fresh) {
      pc = this.connect(peer);
      peer.offerer = false;
    }
    await pc.setRemoteDescription(offer);
    if (fresh) this.sendOnOfferedTransceivers(pc);
    await pc.setLocalDescription(await pc.createAnswer());
    this.signal('webrtc:answer', { targetPeerId: peer.id, answer: description(pc.localDescription) });
    await this.flushCandidates(peer);
  }

  /** Our camera and microphone on the offer's audio/video sections (none from a native peer). */
  sendOnOfferedTransceivers(pc) {
    for (const kind of KINDS) {
      const track = this.localTrack(kind);
      const t = pc.getTransceivers().find((t) => t.receiver.track.kind === kind && !t.sender.track);
      if (!track || !t) continue;
      t.sender.replaceTrack(track);
      t.sender.setStreams(this.localStream);
      t.direction = 'sendrecv';
    }
  }

  localTrack(kind) {
    return this.localStream?.getTracks().find((t) => t.kind === kind) ?? null;
  }

  connect(peer) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    peer.pc = pc;
    peer.state = pc.connectionState;
    pc.onicecandidate = (e) => {
      // The final null (end of gathering) is not sent: the gateway refuses it.
      if (!e.candidate || peer.pc !== pc) return;
      this.signal('webrtc:ice', { targetPeerId: peer.id, candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => {
      if (peer.pc !== pc) return;
      if (!peer.stream) peer.stream = e.streams[0] ?? new MediaStream();
      if (!peer.stream.getTracks().includes(e.track)) peer.stream.addTrack(e.track);
      this.events.peer(peer);
    };
    pc.ondatachannel = (e) => {
      // The first channel the offerer opens; any further one is ignored.
      if (peer.pc === pc && !peer.dc) this.attach(peer, e.channel);
    };
    pc.onconnectionstatechange = () => {
      if (peer.pc !== pc) return;
      peer.state = pc.connectionState;
      this.events.peer(peer);
      if (pc.connectionState === 'failed') this.failed(peer);
    };
    this.events.peer(peer);
    return pc;
  }

  /** A failed connection is replaced, never ICE-restarted (native peers could not follow). */
  failed(peer) {
    this.closeConnection(peer);
    peer.state = 'failed';
    this.events.peer(peer);
    if (!peer.offerer || peer.reoffers >= MAX_REOFFERS) return;
    peer.reoffers += 1;
    setTimeout(() => {
      if (this.peers.get(peer.id) === peer && !peer.pc) this.step(peer, () => this.offer(peer));
    }, REOFFER_DELAY_MS);
  }

  attach(peer, dc) {
    peer.dc = dc;
    peer.channel = dc.readyState;
    peer.link = new PeerLink(dc, {
      chat: (text) => this.events.chat(peer, text),
      transfer: (t) => this.events.transfer(peer, t),
      problem: (message) => this.events.problem(peer, message),
    });
    const update = () => {
      if (peer.dc !== dc) return;
      peer.channel = dc.readyState;
      this.events.peer(peer);
    };
    dc.addEventListener('open', update);
    dc.addEventListener('close', update);
    this.events.peer(peer);
  }

  async flushCandidates(peer) {
    const pending = peer.pending;
    peer.pending = [];
    for (const init of pending) await this.addCandidate(peer, init);
  }

  async addCandidate(peer, init) {
    try {
      await peer.pc.addIceCandidate(init);
    } catch (err) {
      // One of an older connection (another ufrag): harmless.
      this.events.problem(peer, `ignored an ICE candidate from ${peer.name}: ${err.message}`);
    }
  }

  closeConnection(peer) {
    peer.link?.close('the connection closed');
    peer.dc?.close();
    peer.pc?.close();
    peer.pc = null;
    peer.dc = null;
    peer.link = null;
    peer.stream = null;
    peer.pending = [];
    peer.channel = 'none';
    peer.state = 'closed';
  }
}

function description(d) {
  return { type: d.type, sdp: d.sdp };
}
