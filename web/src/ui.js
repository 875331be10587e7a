// What the page shows: sections, the connection pill, the notice, video
// tiles, the peer list, the chat log and file transfers. State lives in
// main.js and mesh.js; this module only renders it (and the tests read the
// data-* attributes it sets).

const $ = (selector) => document.querySelector(selector);

export const el = {
  status: $('#status'),
  whoami: $('#whoami'),
  signout: $('#signout'),
  notice: $('#notice'),
  signin: $('#signin'),
  lobby: $('#lobby'),
  call: $('#call'),
  roomCode: $('#room-code'),
  roomLink: $('#room-link'),
  tiles: $('#tiles'),
  peers: $('#peers'),
  chatLog: $('#chat-log'),
  transfers: $('#transfers'),
  toggleAudio: $('#toggle-audio'),
  toggleVideo: $('#toggle-video'),
};

/** Shows one of 'signin', 'lobby', 'call'. */
export function show(section) {
  for (const name of ['signin', 'lobby', 'call']) el[name].hidden = name !== section;
  el.signout.hidden = section === 'signin';
}

const STATUS_TEXT = {
  offline: 'offline',
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  disconnected: 'disconnected',
};

export function status(state, detail = '') {
  el.status.dataset.state = state;
  el.status.textContent = STATUS_TEXT[state] + (detail ? ` ${detail}` : '');
}

/**
 * A message for the user. `code` (a gateway error code, or one of the page's
 * own) goes to data-code; `level` is 'error' or 'info'; `html` parts are
 * nodes (a link), the rest text.
 */
export function notify(code, ...parts) {
  const level = code === 'INFO' ? 'info' : 'error';
  el.notice.replaceChildren(...parts.map((p) => (typeof p === 'string' ? document.createTextNode(p) : p)));
  el.notice.dataset.code = code;
  el.notice.dataset.level = level;
  el.notice.hidden = false;
}

export function clearNotice(code) {
  if (code && el.notice.dataset.code !== code) return;
  el.notice.hidden = true;
  el.notice.replaceChildren();
  delete el.notice.dataset.code;
}

export function link(href, text) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  a.rel = 'noopener';
  return a;
}

// --- tiles ---

function newTile(key, name) {
  const tile = document.querySelector('#tile-template').content.firstElementChild.cloneNode(true);
  tile.dataset.peer = key;
  tile.querySelector('.name').textContent = name;
  tile.querySelector('.placeholder').textContent = (name[0] || '?').toUpperCase();
  el.tiles.append(tile);
  return tile;
}

function tileOf(key) {
  return el.tiles.querySelector(`.tile[data-peer="${CSS.escape(key)}"]`);
}

export function localTile(name, stream, media) {
  const tile = tileOf('me') ?? newTile('me', `${name} (you)`);
  tile.dataset.local = '';
  const video = tile.querySelector('video');
  video.muted = true;
  if (video.srcObject !== stream) video.srcObject = stream;
  setMedia(tile, media, Boolean(stream?.getVideoTracks().length));
  tile.querySelector('.state').textContent = stream ? '' : 'no camera';
}

export function peerTile(peer) {
  const tile = tileOf(peer.id) ?? newTile(peer.id, peer.name);
  tile.querySelector('.name').textContent = peer.name;
  tile.querySelector('.placeholder').textContent = (peer.name[0] || '?').toUpperCase();
  tile.dataset.state = peer.state;
  tile.querySelector('.state').textContent = peer.state;
  const video = tile.querySelector('video');
  if (video.srcObject !== peer.stream) {
    video.srcObject = peer.stream;
    // Autoplay needs the page to have been clicked (joining did that).
    if (peer.stream) video.play().catch(() => {});
  }
  setMedia(tile, peer.media, Boolean(peer.stream?.getVideoTracks().length));
}

function setMedia(tile, media, hasVideo) {
  tile.dataset.audio = media.audio ? 'on' : 'off';
  tile.dataset.video = media.video && hasVideo ? 'on' : 'off';
}

export function removeTile(key) {
  tileOf(key)?.remove();
}

export function clearTiles() {
  el.tiles.replaceChildren();
}

// --- peer list ---

export function peerRow(peer) {
  let row = el.peers.querySelector(`li[data-peer="${CSS.escape(peer.id)}"]`);
  if (!row) {
    row = document.createElement('li');
    row.dataset.peer = peer.id;
    row.append(document.createElement('span'), ' ', document.createElement('span'));
    row.firstChild.className = 'name';
    row.lastChild.className = 'state';
    el.peers.append(row);
  }
  row.dataset.state = peer.state;
  row.dataset.channel = peer.channel;
  row.querySelector('.name').textContent = peer.name;
  const channel = peer.channel === 'open' ? 'data channel open' : `data channel ${peer.channel}`;
  row.querySelector('.state').textContent = `${peer.state}, ${channel}`;
}

export function removePeerRow(peerId) {
  el.peers.querySelector(`li[data-peer="${CSS.escape(peerId)}"]`)?.remove();
}

export function clearPeers() {
  el.peers.replaceChildren();
}

// --- chat ---

/** A chat line; `from` is a peer id or 'me'; `system` lines are the page's own. */
export function chatLine(from, name, text, { system = false } = {}) {
  const li = document.createElement('li');
  li.dataset.from = from;
  if (system) li.dataset.system = '';
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = system ? '' : `${name}: `;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(who, body);
  el.chatLog.append(li);
  el.chatLog.scrollTop = el.chatLog.scrollHeight;
}

// --- transfers ---

const STATUS = {
  sending: 'sending',
  waiting: 'sent, waiting for the receiver’s checksum',
  receiving: 'receiving',
  done: 'done, SHA-256 equal',
  failed: 'failed',
};

/** A transfer row: `t` from link.js, `peer` the other side. */
export function transferRow(peer, t) {
  const key = `${t.direction}:${peer.id}:${t.id}`;
  let row = el.transfers.querySelector(`li[data-key="${CSS.escape(key)}"]`);
  if (!row) {
    row = document.createElement('li');
    row.dataset.key = key;
    row.dataset.id = t.id;
    row.dataset.peer = peer.id;
    row.dataset.direction = t.direction;
    const title = document.createElement('div');
    title.className = 'title';
    const bar = document.createElement('progress');
    const sha = document.createElement('div');
    sha.className = 'sha';
    row.append(title, bar, sha);
    el.transfers.prepend(row);
  }
  row.dataset.status = t.status;
  const arrow = t.direction === 'out' ? `to ${peer.name}` : `from ${peer.name}`;
  const state = t.status === 'failed' ? `failed: ${t.error?.code} ${t.error?.message ?? ''}` : STATUS[t.status];
  row.querySelector('.title').textContent = `${t.name} (${t.size} bytes) ${arrow}: ${state}`;
  const bar = row.querySelector('progress');
  bar.max = Math.max(t.size, 1);
  bar.value = t.size === 0 && t.status === 'done' ? 1 : t.bytes;
  row.querySelector('.sha').textContent = t.sha256 ? `sha256 ${t.sha256}` : '';
  if (t.direction === 'in' && t.status === 'done' && t.blob && !row.querySelector('a')) {
    const a = link(URL.createObjectURL(t.blob), `save ${t.name}`);
    a.download = t.name;
    row.append(a);
    t.blob = null;
  }
}
