// The demo call page: sign in through the REST API (or paste a token),
// connect to the gateway with the stock socket.io-client, create or join a
// room by code, and hold a mesh call with video tiles, mute states, a peer
// list, chat and file transfer over data channels.
//
// URL options: `?room=CODE` joins that room once signed in (the invite
// link); `?transport=polling` or `websocket` pins Socket.IO's transport;
// `?auth=cookie` sends the token as the `access_token` cookie instead of
// `auth.token`.

import { io } from 'socket.io-client';
import * as api from './api.js';
import * as say from './errors.js';
import { MAX_FILE } from './link.js';
import { Mesh } from './mesh.js';
import * as ui from './ui.js';

const params = new URLSearchParams(location.search);
const options = {
  transports: { polling: ['polling'], websocket: ['websocket'] }[params.get('transport')] ?? ['polling', 'websocket'],
  cookie: params.get('auth') === 'cookie',
};
const ACK_TIMEOUT_MS = 10_000;
const TOKEN_KEY = 'demo-call-token';

let token = null;
let name = '';
let socket = null;
/** The room we are in: `room:joined`'s payload. */
let room = null;
/** The room code we mean to be in, rejoined after a reconnection. */
let wanted = params.get('room');
let mesh = null;
let localStream = null;
let mediaAsked = false;
const media = { audio: true, video: true };

// --- signing in ---

function signedIn(jwt) {
  token = jwt;
  name = api.tokenName(jwt) || 'me';
  sessionStorage.setItem(TOKEN_KEY, jwt);
  ui.el.whoami.textContent = `signed in as ${name}`;
  ui.clearNotice();
  connect();
}

function signOut(...why) {
  socket?.disconnect();
  socket = null;
  leaveLocally();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  document.cookie = 'access_token=; path=/; max-age=0; SameSite=Strict';
  ui.el.whoami.textContent = '';
  ui.status('offline');
  ui.show('signin');
  if (why.length) ui.notify('UNAUTHORIZED', ...why);
}

async function withApi(work) {
  try {
    const { token: jwt } = await work();
    signedIn(jwt);
  } catch (err) {
    ui.notify(err.code ?? 'ERROR', `${err.code ?? 'Error'}: ${err.message}`);
  }
}

function accountFields() {
  return [document.querySelector('#username').value.trim(), document.querySelector('#password').value];
}

document.querySelector('#guest').addEventListener('click', () => withApi(api.guest));
document.querySelector('#account-form').addEventListener('submit', (e) => {
  e.preventDefault();
  withApi(() => api.login(...accountFields()));
});
document.querySelector('#register').addEventListener('click', () => {
  const form = document.querySelector('#account-form');
  if (form.reportValidity()) withApi(() => api.register(...accountFields()));
});
document.querySelector('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  signedIn(document.querySelector('#token').value.trim());
});
ui.el.signout.addEventListener('click', () => signOut());

// --- the gateway connection ---

function connect() {
  ui.status('connecting');
  ui.show('lobby');
  if (options.cookie) {
    document.cookie = `access_token=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
  }
  socket = io(location.origin, {
    auth: options.cookie ? {} : { token },
    transports: options.transports,
    withCredentials: true,
  });

  socket.on('connect', () => {
    ui.status('connected');
    ui.clearNotice('DISCONNECTED');
    ui.clearNotice('CONNECT_ERROR');
    // The first join of an invite link, or the rejoin after a reconnection:
    // our socket id is new, so the others see a newcomer and offer to it.
    if (wanted) join(wanted);
  });
  socket.on('connect_error', (err) => {
    if (err.message === 'Unauthorized') return signOut(...say.connectError(err));
    ui.status(socket.active ? 'reconnecting' : 'disconnected');
    ui.notify('CONNECT_ERROR', ...say.connectError(err));
  });
  socket.on('disconnect', (reason) => {
    leaveLocally();
    if (reason === 'io client disconnect') return;
    ui.status(socket.active ? 'reconnecting' : 'disconnected');
    ui.notify('DISCONNECTED', say.disconnected(reason), socket.active ? ' Reconnecting…' : ' Reload the page to reconnect.');
    if (wanted) ui.show('lobby');
  });
  socket.io.on('reconnect_attempt', (n) => ui.status('reconnecting', `(attempt ${n})`));

  socket.on('error', (err) => {
    if (err?.code === 'UNAUTHORIZED') return signOut(...say.gatewayError(err));
    if (err?.code === 'PEER_NOT_FOUND') return console.warn('gateway:', err);
    ui.notify(err?.code ?? 'ERROR', ...say.gatewayError(err ?? {}, err?.event === 'join:room' || err?.event === 'create:room' ? pendingCode : room?.roomCode));
  });
  socket.on('peer:joined', ({ peerId, userInfo }) => {
    if (!mesh) return;
    mesh.joined(peerId, userInfo);
    ui.chatLine(peerId, '', `${userInfo?.username ?? peerId} joined`, { system: true });
    // A newcomer learns our mute state only from a media:state sent after it came.
    if (!media.audio || !media.video) sendMediaState();
  });
  socket.on('peer:left', ({ peerId }) => {
    const peer = mesh?.peers.get(peerId);
    if (!peer) return;
    mesh.left(peerId);
    ui.chatLine(peerId, '', `${peer.name} left`, { system: true });
  });
  socket.on('webrtc:offer', (p) => mesh?.onOffer(p));
  socket.on('webrtc:answer', (p) => mesh?.onAnswer(p));
  socket.on('webrtc:ice', (p) => mesh?.onIce(p));
  socket.on('media:state_changed', (p) => mesh?.mediaState(p));
}

// --- rooms ---

/** The code of the create/join request in flight, for its error's wording. */
let pendingCode = null;

function request(event, payload) {
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, reply) => {
      if (err) {
        ui.notify('TIMEOUT', `The gateway did not answer ${event} in time.`);
        return resolve(null);
      }
      // Failures also come as an `error` event, which words them (sfuUrl included).
      resolve(reply?.error ? null : reply);
    });
  });
}

async function join(code) {
  await startMedia();
  pendingCode = code;
  const reply = await request('join:room', { roomCode: code });
  if (!reply) {
    wanted = null;
    setInviteParam(null);
    return;
  }
  enterRoom(reply);
}

async function create(code, maxPeers) {
  pendingCode = code;
  const payload = {};
  if (code) payload.roomCode = code;
  if (maxPeers) payload.maxPeers = maxPeers;
  const created = await request('create:room', payload);
  if (created) {
    wanted = created.roomCode;
    await join(created.roomCode);
  }
}

function enterRoom(joined) {
  leaveLocally();
  room = joined;
  wanted = joined.roomCode;
  for (const code of ['ROOM_NOT_FOUND', 'ROOM_FULL', 'ROOM_EXISTS', 'TIMEOUT']) ui.clearNotice(code);
  document.body.dataset.peerId = joined.peerId;
  ui.el.roomCode.textContent = joined.roomCode;
  ui.el.roomLink.href = setInviteParam(joined.roomCode);
  ui.show('call');
  mesh = new Mesh({
    selfId: joined.peerId,
    iceServers: joined.iceServers,
    localStream,
    signal: (event, payload) => socket?.emit(event, payload),
    events: {
      peer: (peer) => {
        ui.peerTile(peer);
        ui.peerRow(peer);
      },
      gone: (peerId) => {
        ui.removeTile(peerId);
        ui.removePeerRow(peerId);
      },
      chat: (peer, text) => ui.chatLine(peer.id, peer.name, text),
      transfer: (peer, t) => ui.transferRow(peer, t),
      problem: (peer, message) => console.warn(`${peer.name}: ${message}`),
    },
  });
  ui.localTile(name, localStream, media);
  mesh.welcome(joined.peers);
  if (!media.audio || !media.video) sendMediaState();
}

/** Drops the call on our side (the gateway has, or will have, forgotten it). */
function leaveLocally() {
  mesh?.close();
  mesh = null;
  room = null;
  delete document.body.dataset.peerId;
  ui.clearTiles();
  ui.clearPeers();
}

function leave() {
  socket?.emit('leave:room');
  wanted = null;
  setInviteParam(null);
  leaveLocally();
  ui.show('lobby');
}

/** Puts `?room=` in the address bar (kept across reloads); returns the invite link. */
function setInviteParam(code) {
  const url = new URL(location.href);
  if (code) url.searchParams.set('room', code);
  else url.searchParams.delete('room');
  history.replaceState(null, '', url);
  return url.href;
}

document.querySelector('#join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  wanted = document.querySelector('#join-code').value.trim();
  join(wanted);
});
document.querySelector('#create-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const seats = Number.parseInt(document.querySelector('#create-seats').value, 10);
  create(document.querySelector('#create-code').value.trim(), Number.isFinite(seats) ? seats : undefined);
});
document.querySelector('#leave').addEventListener('click', leave);

// --- media ---

async function startMedia() {
  if (mediaAsked) return;
  mediaAsked = true;
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  } catch (err) {
    localStream = null;
    media.audio = false;
    media.video = false;
    ui.notify('NO_MEDIA', ...say.mediaError(err));
  }
  ui.el.toggleAudio.disabled = !localStream?.getAudioTracks().length;
  ui.el.toggleVideo.disabled = !localStream?.getVideoTracks().length;
}

function sendMediaState() {
  socket?.emit('media:state', { isVideoEnabled: media.video, isAudioEnabled: media.audio });
}

function toggle(kind) {
  media[kind] = !media[kind];
  for (const track of localStream?.getTracks() ?? []) {
    if (track.kind === kind) track.enabled = media[kind];
  }
  const button = kind === 'audio' ? ui.el.toggleAudio : ui.el.toggleVideo;
  button.setAttribute('aria-pressed', String(!media[kind]));
  button.textContent = kind === 'audio' ? (media.audio ? 'Mute mic' : 'Unmute mic') : media.video ? 'Stop camera' : 'Start camera';
  ui.localTile(name, localStream, media);
  sendMediaState();
}

ui.el.toggleAudio.addEventListener('click', () => toggle('audio'));
ui.el.toggleVideo.addEventListener('click', () => toggle('video'));

// --- chat and files ---

document.querySelector('#chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = document.querySelector('#chat-input');
  const text = input.value;
  if (!text.trim() || !mesh) return;
  const links = mesh.links();
  if (!links.length) return ui.notify('INFO', 'Nobody is connected yet: the message was not sent.');
  try {
    for (const peer of links) peer.link.sendChat(text);
  } catch (err) {
    return ui.notify('CHAT', `The message was not sent: ${err.message}`);
  }
  ui.chatLine('me', 'you', text);
  input.value = '';
});

document.querySelector('#file-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = document.querySelector('#file-input');
  const file = input.files?.[0];
  if (!file || !mesh) return;
  if (file.size > MAX_FILE) return ui.notify('FILE', `Files are limited to ${MAX_FILE / 1024 / 1024} MiB here.`);
  if (!crypto.subtle) return ui.notify('FILE', 'File transfer needs a secure context (localhost or HTTPS) for SHA-256.');
  const links = mesh.links();
  if (!links.length) return ui.notify('INFO', 'Nobody is connected yet: the file was not sent.');
  for (const peer of links) peer.link.sendFile(file);
  input.value = '';
});

// --- start ---

token = sessionStorage.getItem(TOKEN_KEY);
if (token) signedIn(token);
else ui.show('signin');
