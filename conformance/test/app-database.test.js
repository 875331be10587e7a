// The app's own database (issue 10): a NestJS + Prisma app owns its users and
// rooms; its tokens are `{ id, email, tokenVersion }` in the `access_token`
// cookie. Each describe creates a throwaway PostgreSQL database with the
// app's schema (fixtures/app-schema.sql) and starts a target pointed at it
// (APP_DATABASE_URL, USER_QUERY, ROOM_QUERY as the README gives them).
//
// The reference loads users and rooms from the same database as the real
// incumbent did (user by id, room exists by slug), so the behaviour they share
// is compared on both; what the incumbent never did (tokenVersion, room status
// and maxParticipants, case-insensitive slugs, create:room against the app's
// codes, per-user rooms, a database outage) runs against the gateway only.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import {
  ack,
  clientOptions,
  closeAll,
  connect,
  connectRefused,
  createRoom,
  disconnected,
  errorAck,
  expectError,
  joinRoom,
  MESSAGES,
  Recorder,
  SEED_OFFER,
  sleep,
  transportOptions,
  WAIT_MS,
  withTimeout,
} from '../lib/client.js';
import {
  AppDb,
  appToken,
  emailOf,
  ROOM_QUERY,
  ROOM_QUERY_PER_USER,
  USER_QUERY,
  withCookie,
} from '../lib/app-db.js';
import { TcpProxy } from '../lib/tcp-proxy.js';
import { SKIP_SETTINGS, TARGET, useTarget } from '../lib/target.js';

after(closeAll);

/** Skips what the incumbent (and so the reference) did not do, saying what. */
const gatewayOnly = (what) =>
  SKIP_SETTINGS || (TARGET === 'reference' ? `the incumbent did not ${what}` : false);

/** A database prepared with `seed`, dropped after the file. */
function appDatabase(seed) {
  const ready = AppDb.create().then(async (db) => {
    await seed(db);
    return db;
  });
  after(() => ready.then((db) => db.drop(), () => {}));
  return ready;
}

function appSettings(db, extra = {}) {
  return { APP_DATABASE_URL: db.url, USER_QUERY, ROOM_QUERY, ...extra };
}

/** Connects as the app's frontend does: the app's token in the access_token cookie. */
function connectAs(url, userId, { tokenVersion = 0, transport = 'websocket' } = {}) {
  return connect(url, withCookie(appToken(userId, { tokenVersion }), { transport }));
}

/** Everything `rec` received, as one string. */
const everything = (...recs) => JSON.stringify(recs.map((r) => r.log));

describe('users and rooms from the app database', { skip: SKIP_SETTINGS }, () => {
  const ready = appDatabase(async (db) => {
    for (const [id, username, tokenVersion] of [
      ['ck-ann', 'ann', 0],
      ['ck-bob', 'bob', 0],
      ['ck-cid', 'cid', 2],
      ['ck-lou', 'lou', 0],
    ]) {
      await db.addUser({ id, username, tokenVersion });
    }
    await db.addRoom({ slug: 'team-sync', ownerId: 'ck-ann' });
    await db.addRoom({ slug: 'weekly-sync', ownerId: 'ck-ann' });
    await db.addRoom({ slug: 'duo', maxParticipants: 2, ownerId: 'ck-ann' });
    await db.addRoom({ slug: 'town-hall', maxParticipants: 50, ownerId: 'ck-ann' });
    await db.addRoom({ slug: 'old-standup', status: 'ended', ownerId: 'ck-ann' });
  });
  const target = useTarget(async () =>
    appSettings(await ready, { MAX_ROOM_SIZE: '4', APP_LOOKUP_CACHE_TTL: '1s' }),
  );

  test('the app token in the access_token cookie: userInfo is the database username, and no payload carries the e-mail (websocket and polling)', async () => {
    const a = await connectAs(target.url, 'ck-ann');
    const b = await connectAs(target.url, 'ck-bob', { transport: 'polling' });
    // team-sync exists only in the Room table.
    const ja = await joinRoom(a, 'team-sync');
    assert.deepEqual(ja, {
      roomId: 'room_team-sync',
      roomCode: 'team-sync',
      peerId: a.id,
      peers: [],
      iceServers: [],
    });
    const jb = await joinRoom(b, 'team-sync');
    assert.deepEqual(jb.peers, [{ id: a.id, userInfo: { userId: 'ck-ann', username: 'ann' } }]);
    assert.deepEqual(await a.rec.next('peer:joined'), {
      peerId: b.id,
      userInfo: { userId: 'ck-bob', username: 'bob' },
    });
    assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer: SEED_OFFER }), {
      ok: true,
    });
    assert.deepEqual(await b.rec.next('webrtc:offer'), {
      fromPeerId: a.id,
      targetPeerId: b.id,
      offer: SEED_OFFER,
    });
    b.socket.close();
    assert.deepEqual(await a.rec.next('peer:left'), { peerId: b.id });
    const seen = everything(a.rec, b.rec);
    for (const id of ['ck-ann', 'ck-bob']) assert.ok(!seen.includes(emailOf(id)), seen);
    assert.ok(!seen.includes('@'), seen);
  });

  for (const transport of ['websocket', 'polling']) {
    test(`a valid token of a user not in the User table is refused: connect_error "Unauthorized" (${transport})`, async () => {
      const err = await connectRefused(target.url, { ...withCookie(appToken('ck-nobody')), transport });
      assert.equal(err.message, 'Unauthorized');
    });
  }

  test('a slug not in the Room table is ROOM_NOT_FOUND, and the socket stays connected', async () => {
    const a = await connectAs(target.url, 'ck-ann');
    await expectError(a, 'join:room', { roomCode: 'no-such-room' }, 'ROOM_NOT_FOUND');
    assert.equal((await joinRoom(a, 'team-sync')).roomCode, 'team-sync');
  });

  const beyond = 'check tokenVersion, room status or maxParticipants, fold slug case, or guard create:room';
  describe('what the incumbent did not do', { skip: gatewayOnly(beyond) }, () => {
    test('a stale tokenVersion is refused; the current one, and a token without one, are accepted', async () => {
      const err = await connectRefused(target.url, withCookie(appToken('ck-cid', { tokenVersion: 1 })));
      assert.equal(err.message, 'Unauthorized');
      const current = await connectAs(target.url, 'ck-cid', { tokenVersion: 2 });
      assert.ok(current.socket.connected);
      const unversioned = await connect(target.url, withCookie(appToken('ck-cid', { tokenVersion: null })));
      assert.ok(unversioned.socket.connected);
    });

    test('a logout (tokenVersion bumped by the app) refuses the old token from the next handshake on, once the cache has expired', async () => {
      const db = await ready;
      const before = await connectAs(target.url, 'ck-lou', { tokenVersion: 0 });
      await db.query('UPDATE "User" SET "tokenVersion" = 1 WHERE id = $1', ['ck-lou']);
      await sleep(1300);
      const err = await connectRefused(target.url, withCookie(appToken('ck-lou', { tokenVersion: 0 })));
      assert.equal(err.message, 'Unauthorized');
      assert.ok((await connectAs(target.url, 'ck-lou', { tokenVersion: 1 })).socket.connected);
      // Checked at the handshake: a socket already connected stays.
      assert.ok(before.socket.connected);
    });

    test("the room's maxParticipants is enforced: the third peer of a room for two gets ROOM_FULL", async () => {
      const peers = [];
      for (const id of ['ck-ann', 'ck-bob']) {
        const c = await connectAs(target.url, id);
        await joinRoom(c, 'duo');
        peers.push(c);
      }
      const third = await connectAs(target.url, 'ck-cid', { tokenVersion: 2 });
      await expectError(third, 'join:room', { roomCode: 'duo' }, 'ROOM_FULL');
      await peers[0].rec.next('peer:joined');
      await Promise.all(peers.map((p) => p.rec.none()));
    });

    test('maxParticipants above MAX_ROOM_SIZE is capped to it', async () => {
      for (let i = 0; i < 4; i++) await joinRoom(await connectAs(target.url, 'ck-bob'), 'town-hall');
      const fifth = await connectAs(target.url, 'ck-ann');
      await expectError(fifth, 'join:room', { roomCode: 'town-hall' }, 'ROOM_FULL');
    });

    test('an ended room is ROOM_NOT_FOUND', async () => {
      const a = await connectAs(target.url, 'ck-ann');
      await expectError(a, 'join:room', { roomCode: 'old-standup' }, 'ROOM_NOT_FOUND');
    });

    test("codes match without case: Weekly-SYNC joins the app's weekly-sync, and roomCode is the app's slug", async () => {
      const a = await connectAs(target.url, 'ck-ann');
      const joined = await joinRoom(a, 'Weekly-SYNC');
      assert.deepEqual([joined.roomId, joined.roomCode], ['room_weekly-sync', 'weekly-sync']);
      const b = await connectAs(target.url, 'ck-bob');
      assert.deepEqual((await joinRoom(b, 'weekly-sync')).peers, [
        { id: a.id, userInfo: { userId: 'ck-ann', username: 'ann' } },
      ]);
    });

    test("create:room of a code the app has is ROOM_EXISTS; other codes are created as before", async () => {
      const a = await connectAs(target.url, 'ck-ann');
      await expectError(a, 'create:room', { roomCode: 'Team-Sync', maxPeers: 1 }, 'ROOM_EXISTS');
      const created = await createRoom(a, { roomCode: 'Gateway-Only' });
      assert.deepEqual(created, { roomId: 'room_gateway-only', roomCode: 'Gateway-Only' });
      assert.deepEqual((await joinRoom(a, 'gateway-only')).peers, []);
    });
  });
});

describe('AUTH_FAILURE=event with the app database', { skip: SKIP_SETTINGS }, () => {
  const ready = appDatabase((db) => db.addUser({ id: 'ck-ann', username: 'ann' }));
  const target = useTarget(async () => appSettings(await ready, { AUTH_FAILURE: 'event' }));

  /** Connects; resolves with the error event and the disconnect reason. */
  function refusedSession(token) {
    const socket = io(target.url, clientOptions({ ...transportOptions('websocket'), ...withCookie(token) }));
    const rec = new Recorder(socket);
    return withTimeout(
      Promise.all([rec.next('error'), disconnected(socket)]),
      WAIT_MS,
      'no error and disconnect',
    ).finally(() => socket.close());
  }

  test('a user not in the User table connects, gets UNAUTHORIZED "User not found" (the incumbent\'s words), and is disconnected', async () => {
    assert.deepEqual(await refusedSession(appToken('ck-nobody')), [
      { code: 'UNAUTHORIZED', message: 'User not found', status: 'error', event: 'connection' },
      'io server disconnect',
    ]);
  });

  test('a bad signature is still "Unauthorized"; a known user is served', async () => {
    assert.deepEqual(await refusedSession(appToken('ck-ann', { secret: 'not-the-secret' })), [
      { code: 'UNAUTHORIZED', message: 'Unauthorized', status: 'error', event: 'connection' },
      'io server disconnect',
    ]);
    const a = await connectAs(target.url, 'ck-ann');
    await a.rec.none('error');
    assert.ok(a.socket.connected);
  });
});

describe('ROOM_QUERY with the user as $2: who may join', { skip: gatewayOnly('decide per user') }, () => {
  const ready = appDatabase(async (db) => {
    await db.addUser({ id: 'ck-ann', username: 'ann' });
    await db.addUser({ id: 'ck-bob', username: 'bob' });
    await db.addRoom({ slug: 'private-1on1', isPublic: false, ownerId: 'ck-ann' });
    await db.addRoom({ slug: 'open-house', isPublic: true, ownerId: 'ck-ann' });
  });
  const target = useTarget(async () => appSettings(await ready, { ROOM_QUERY: ROOM_QUERY_PER_USER }));

  test('a private room admits its owner only, also once it is in the registry; a public one admits anyone', async () => {
    const ann = await connectAs(target.url, 'ck-ann');
    const bob = await connectAs(target.url, 'ck-bob');
    await joinRoom(ann, 'private-1on1');
    await expectError(bob, 'join:room', { roomCode: 'private-1on1' }, 'ROOM_NOT_FOUND');
    await ann.rec.none('peer:joined');
    assert.deepEqual((await joinRoom(bob, 'open-house')).peers, []);
    // A room the app does not list, made over the socket, cannot be entered.
    await createRoom(bob, { roomCode: 'made-by-bob' });
    await expectError(bob, 'join:room', { roomCode: 'made-by-bob' }, 'ROOM_NOT_FOUND');
  });
});

describe('the app database goes away and comes back', { skip: gatewayOnly('define a database outage') }, () => {
  let proxy;
  const ready = appDatabase(async (db) => {
    for (const [id, username] of [
      ['ck-ann', 'ann'],
      ['ck-bob', 'bob'],
      ['ck-dan', 'dan'],
    ]) {
      await db.addUser({ id, username });
    }
    await db.addRoom({ slug: 'team-sync', ownerId: 'ck-ann' });
    await db.addRoom({ slug: 'later', ownerId: 'ck-ann' });
  });
  const target = useTarget(async () => {
    const db = await ready;
    proxy = await TcpProxy.start();
    return {
      ...appSettings(db),
      APP_DATABASE_URL: proxy.url(db.url),
      APP_LOOKUP_TIMEOUT: '1s',
      APP_LOOKUP_CACHE_TTL: '0',
    };
  });
  after(() => proxy?.stop());

  const readyz = async () => {
    const res = await fetch(`${target.url}/readyz`, { signal: AbortSignal.timeout(5000) });
    return [res.status, await res.json()];
  };

  test('clear errors while it is down (handshake, join:room, /readyz), nothing else breaks, and all recovers', async () => {
    const a = await connectAs(target.url, 'ck-ann');
    const b = await connectAs(target.url, 'ck-bob');
    await joinRoom(a, 'team-sync');
    await joinRoom(b, 'team-sync');
    await a.rec.next('peer:joined');
    assert.deepEqual(await readyz(), [200, { status: 'ready' }]);

    await proxy.refuse();
    let started = Date.now();
    const refused = await connectRefused(target.url, withCookie(appToken('ck-dan')));
    assert.equal(refused.message, 'Service unavailable');
    assert.ok(Date.now() - started < 3000, `refused after ${Date.now() - started} ms`);
    // A room the registry does not know needs the app: SERVICE_UNAVAILABLE, and
    // the socket stays where it was.
    await expectError(a, 'join:room', { roomCode: 'later' }, 'SERVICE_UNAVAILABLE');
    assert.deepEqual(await readyz(), [503, { status: 'app database unavailable' }]);
    // The registry's rooms need no lookup: the call goes on.
    assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer: SEED_OFFER }), {
      ok: true,
    });
    assert.equal((await b.rec.next('webrtc:offer')).fromPeerId, a.id);

    // A link that swallows packets: the lookup timeout still answers the handshake.
    await proxy.blackhole();
    started = Date.now();
    const swallowed = await connectRefused(target.url, withCookie(appToken('ck-dan')));
    assert.equal(swallowed.message, 'Service unavailable');
    assert.ok(Date.now() - started < 3000, `refused after ${Date.now() - started} ms`);

    await proxy.restore();
    const deadline = Date.now() + 10_000;
    let state = await readyz();
    while (state[0] !== 200 && Date.now() < deadline) {
      await sleep(200);
      state = await readyz();
    }
    assert.deepEqual(state, [200, { status: 'ready' }]);
    const dan = await connectAs(target.url, 'ck-dan');
    assert.deepEqual((await joinRoom(dan, 'later')).peers, []);
    const reply = await ack(a.socket, 'join:room', { roomCode: 'later' });
    assert.deepEqual(reply.peers, [{ id: dan.id, userInfo: { userId: 'ck-dan', username: 'dan' } }]);
    assert.notDeepEqual(reply, errorAck('SERVICE_UNAVAILABLE', MESSAGES.SERVICE_UNAVAILABLE));
  });
});
