// PROTOCOL.md §2 and WIRE-DETAILS.md "Authentication": credential carriers,
// their order, JWT verification, refusal at the handshake.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import {
  closeAll,
  connect,
  connectRefused,
  createRoom,
  joinRoom,
  newUser,
  roomCode,
  tokenFor,
} from '../lib/client.js';
import { JWT_SECRET, SKIP_SETTINGS, useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** The `userInfo` the gateway derived for `client`, as another peer sees it. */
async function userInfoOf(url, client, observerOpts = {}) {
  const code = roomCode('Who');
  await createRoom(client, { roomCode: code });
  await joinRoom(client, code);
  const observer = await connect(url, observerOpts);
  const joined = await joinRoom(observer, code);
  assert.equal(joined.peers.length, 1);
  assert.equal(joined.peers[0].id, client.id);
  observer.socket.close();
  client.socket.close();
  return joined.peers[0].userInfo;
}

async function expectUnauthorized(url, opts) {
  const err = await connectRefused(url, opts);
  assert.equal(err.message, 'Unauthorized');
}

describe('credential carriers (each accepted, identity taken from the token)', () => {
  for (const transport of ['websocket', 'polling']) {
    test(`auth.token (${transport})`, async () => {
      const user = newUser('authtoken');
      const c = await connect(target.url, { transport, auth: { token: tokenFor(user) } });
      assert.deepEqual(await userInfoOf(target.url, c), user);
    });

    test(`Authorization: Bearer header (${transport})`, async () => {
      const user = newUser('bearer');
      const c = await connect(target.url, {
        transport,
        noAuth: true,
        extraHeaders: { Authorization: `Bearer ${tokenFor(user)}` },
      });
      assert.deepEqual(await userInfoOf(target.url, c), user);
    });

    test(`access_token cookie (${transport})`, async () => {
      const user = newUser('cookie');
      const c = await connect(target.url, {
        transport,
        noAuth: true,
        extraHeaders: { Cookie: `theme=dark; access_token=${tokenFor(user)}; lang=en` },
      });
      assert.deepEqual(await userInfoOf(target.url, c), user);
    });

    test(`token query parameter (${transport})`, async () => {
      const user = newUser('query');
      const c = await connect(target.url, { transport, noAuth: true, query: { token: tokenFor(user) } });
      assert.deepEqual(await userInfoOf(target.url, c), user);
    });
  }
});

describe('the first carrier present decides', () => {
  const good = () => tokenFor(newUser());
  const bad = () => tokenFor(newUser(), { secret: 'not-the-secret' });

  test('bad auth.token + good token query → refused', () =>
    expectUnauthorized(target.url, { auth: { token: bad() }, query: { token: good() } }));
  test('bad auth.token + good Bearer header → refused', () =>
    expectUnauthorized(target.url, {
      auth: { token: bad() },
      extraHeaders: { Authorization: `Bearer ${good()}` },
    }));
  test('bad Bearer header + good access_token cookie → refused', () =>
    expectUnauthorized(target.url, {
      extraHeaders: { Authorization: `Bearer ${bad()}`, Cookie: `access_token=${good()}` },
    }));
  test('bad access_token cookie + good token query → refused', () =>
    expectUnauthorized(target.url, {
      extraHeaders: { Cookie: `access_token=${bad()}` },
      query: { token: good() },
    }));
  test('good auth.token + bad token query → accepted as the auth.token user', async () => {
    const user = newUser('first');
    const c = await connect(target.url, { auth: { token: tokenFor(user) }, query: { token: bad() } });
    assert.deepEqual(await userInfoOf(target.url, c), user);
  });
  test('good Bearer header + bad cookie → accepted as the Bearer user', async () => {
    const user = newUser('second');
    const c = await connect(target.url, {
      noAuth: true,
      extraHeaders: { Authorization: `Bearer ${tokenFor(user)}`, Cookie: `access_token=${bad()}` },
    });
    assert.deepEqual(await userInfoOf(target.url, c), user);
  });  test('empty auth.token + good Bearer header → an empty carrier is absent: the Bearer user', async () => {
    const user = newUser('third');
    const c = await connect(target.url, {
      auth: { token: '' },
      extraHeaders: { Authorization: `Bearer ${tokenFor(user)}` },
    });
    assert.deepEqual(await userInfoOf(target.url, c), user);
  });
});

describe('refusals: connect_error "Unauthorized"', () => {
  const user = () => newUser('refused');

  for (const transport of ['websocket', 'polling']) {
    test(`no credential at all (${transport})`, () => expectUnauthorized(target.url, { transport }));
  }
  test('bad signature (auth.token)', () =>
    expectUnauthorized(target.url, { auth: { token: tokenFor(user(), { secret: 'wrong-secret' }) } }));
  test('bad signature (polling)', () =>
    expectUnauthorized(target.url, {
      transport: 'polling',
      auth: { token: tokenFor(user(), { secret: 'wrong-secret' }) },
    }));
  test('expired token (exp an hour ago)', () =>
    expectUnauthorized(target.url, {
      auth: { token: tokenFor(user(), { expiresIn: null, claims: { exp: now() - 3600, iat: now() - 7200 } }) },
    }));
  test('token not yet valid (nbf an hour ahead)', () =>
    expectUnauthorized(target.url, {
      auth: { token: tokenFor(user(), { claims: { nbf: now() + 3600 } }) },
    }));
  test('alg "none" (unsigned token)', () => {
    const u = user();
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({
      sub: u.userId,
      username: u.username,
      iat: now(),
      exp: now() + 3600,
    })}.`;
    return expectUnauthorized(target.url, { auth: { token } });
  });
  test('forged access_token cookie (signed with another secret)', () =>
    expectUnauthorized(target.url, {
      extraHeaders: { Cookie: `access_token=${tokenFor(user(), { secret: 'attacker-secret' })}` },
    }));
  test('forged access_token cookie (payload swapped under a valid signature)', () => {
    const [h, , s] = tokenFor(user()).split('.');
    const forged = `${h}.${b64url({ sub: 'admin', username: 'admin', iat: now(), exp: now() + 3600 })}.${s}`;
    return expectUnauthorized(target.url, { extraHeaders: { Cookie: `access_token=${forged}` } });
  });
  test('a Bearer value that is not a JWT is an API key: an unknown one is refused', () =>
    expectUnauthorized(target.url, { extraHeaders: { Authorization: 'Bearer not-a-known-api-key-0123456789' } }));
  test('unknown API key in auth.apiKey → refused', () =>
    expectUnauthorized(target.url, { auth: { apiKey: 'unknown-api-key-0123456789abcdef' } }));
  test('unknown API key in an X-API-Key header → refused', () =>
    expectUnauthorized(target.url, { extraHeaders: { 'X-API-Key': 'unknown-api-key-0123456789abcdef' } }));
  test('garbage token query', () => expectUnauthorized(target.url, { query: { token: 'not.a.jwt' } }));
  test('bad Bearer header (polling)', () =>
    expectUnauthorized(target.url, {
      transport: 'polling',
      extraHeaders: { Authorization: `Bearer ${tokenFor(user(), { secret: 'x' })}` },
    }));
});

describe('user id and display name from the claims', () => {
  const cases = [
    [{ sub: 'c-sub-1', username: 'a', preferred_username: 'b', name: 'c', email: 'd@x.test' }, { userId: 'c-sub-1', username: 'a' }],
    [{ sub: 'c-sub-2', preferred_username: 'b', name: 'c', email: 'd@x.test' }, { userId: 'c-sub-2', username: 'b' }],
    [{ sub: 'c-sub-3', name: 'Carol C', email: 'd@x.test' }, { userId: 'c-sub-3', username: 'Carol C' }],
    // An e-mail address is never shown to other peers as a name.
    [{ sub: 'c-sub-4', email: 'd@x.test' }, { userId: 'c-sub-4', username: 'c-sub-4' }],
    [{ sub: 'c-sub-5' }, { userId: 'c-sub-5', username: 'c-sub-5' }],
    [{ id: 'c-id-6', username: 'six' }, { userId: 'c-id-6', username: 'six' }],
  ];
  for (const [claims, expected] of cases) {
    test(`claims ${JSON.stringify(claims)} → userInfo ${JSON.stringify(expected)}`, async () => {
      const token = jwt.sign(claims, JWT_SECRET, { algorithm: 'HS256', expiresIn: '1h' });
      const c = await connect(target.url, { auth: { token } });
      assert.deepEqual(await userInfoOf(target.url, c), expected);
    });
  }
});

describe('JWT_ACCESS_SECRET (the incumbent name) instead of JWT_SECRET', { skip: SKIP_SETTINGS }, () => {
  const alias = useTarget({ JWT_SECRET: undefined, JWT_ACCESS_SECRET: 'incumbent-access-secret' });

  test('tokens signed with JWT_ACCESS_SECRET are accepted, others refused', async () => {
    const user = newUser('alias');
    const c = await connect(alias.url, {
      auth: { token: tokenFor(user, { secret: 'incumbent-access-secret' }) },
    });
    const observerUser = newUser('observer');
    const observerToken = tokenFor(observerUser, { secret: 'incumbent-access-secret' });
    assert.deepEqual(
      await userInfoOf(alias.url, c, { user: observerUser, auth: { token: observerToken } }),
      user,
    );
    await expectUnauthorized(alias.url, { auth: { token: tokenFor(user) } });
  });
});
