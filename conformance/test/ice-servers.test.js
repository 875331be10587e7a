// PROTOCOL.md §3 iceServers; WIRE-DETAILS.md "ICE servers" (TURN REST API credentials).

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { closeAll, setupRoom } from '../lib/client.js';
import { SKIP_SETTINGS, URL_MODE, useTarget } from '../lib/target.js';

after(closeAll);

const STUN = ['stun:stun1.example.test:3478', 'stun:stun2.example.test:19302'];
const TURN = ['turn:turn.example.test:3478?transport=udp', 'turns:turn.example.test:5349?transport=tcp'];
const SECRET = 'coturn-static-auth-secret';

/** Asserts a TURN entry for `userId` with an expiry of now + ttl (± a few seconds). */
function assertTurn(entry, userId, ttl, secret = SECRET) {
  assert.deepEqual(Object.keys(entry).sort(), ['credential', 'urls', 'username']);
  assert.deepEqual(entry.urls, TURN);
  const m = /^(\d+):(.+)$/.exec(entry.username);
  assert.ok(m, `username "${entry.username}" is <expiry>:<userId>`);
  assert.equal(m[2], userId);
  const expiry = Number(m[1]);
  const expected = Math.floor(Date.now() / 1000) + ttl;
  assert.ok(Math.abs(expiry - expected) <= 5, `expiry ${expiry} ≈ now + ${ttl} (${expected})`);
  const credential = createHmac('sha1', secret).update(entry.username).digest('base64');
  assert.equal(entry.credential, credential, 'credential = base64(HMAC-SHA1(secret, username))');
}

describe('default: no STUN, no TURN', { skip: URL_MODE && 'the deployment may configure ICE servers' }, () => {
  const target = useTarget();
  test('iceServers is []', async () => {
    const { clients } = await setupRoom(target.url, 1);
    const joined = clients[0].rec.log.find((e) => e.event === 'room:joined').args[0];
    assert.deepEqual(joined.iceServers, []);
  });
});

describe('STUN_URLS (and TURN_URLS without TURN_SECRET)', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ STUN_URLS: STUN.join(','), TURN_URLS: TURN.join(',') });
  test('iceServers is [{ urls: [...STUN_URLS] }]; no TURN entry without a secret', async () => {
    const { clients } = await setupRoom(target.url, 2);
    for (const c of clients) {
      const joined = c.rec.log.find((e) => e.event === 'room:joined').args[0];
      assert.deepEqual(joined.iceServers, [{ urls: STUN }]);
    }
  });
});

describe('STUN_URLS + TURN_URLS + TURN_SECRET + TURN_TTL=3600', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({
    STUN_URLS: STUN.join(','),
    TURN_URLS: TURN.join(','),
    TURN_SECRET: SECRET,
    TURN_TTL: '3600',
  });
  test('iceServers: the STUN entry, then TURN with per-user REST API credentials', async () => {
    const { clients } = await setupRoom(target.url, 2);
    for (const c of clients) {
      const joined = c.rec.log.find((e) => e.event === 'room:joined').args[0];
      assert.equal(joined.iceServers.length, 2);
      assert.deepEqual(joined.iceServers[0], { urls: STUN });
      assertTurn(joined.iceServers[1], c.user.userId, 3600);
    }
  });
});

describe('TURN_URLS + TURN_SECRET only (TURN_TTL default 86400 s)', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ TURN_URLS: TURN.join(','), TURN_SECRET: SECRET });
  test('iceServers is just the TURN entry, valid for a day', async () => {
    const { clients } = await setupRoom(target.url, 1);
    const joined = clients[0].rec.log.find((e) => e.event === 'room:joined').args[0];
    assert.equal(joined.iceServers.length, 1);
    assertTurn(joined.iceServers[0], clients[0].user.userId, 86400);
  });
});
