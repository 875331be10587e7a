// The gateway's REST API for accounts (README "REST API"): register, log in,
// and the access token the Socket.IO handshake carries. Same origin as the
// page, so no CORS is involved.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function post(path, body, headers = {}) {
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the gateway cannot be reached (${err.message})`);
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const retry = res.headers.get('retry-after');
    const extra = res.status === 429 && retry ? ` (try again in ${retry} s)` : '';
    throw new ApiError(res.status, data?.error?.code ?? `HTTP_${res.status}`, (data?.error?.message ?? res.statusText) + extra);
  }
  return data;
}

/** A new account, then a token for it. */
export async function register(username, password) {
  const { api_key: apiKey } = await post('/register', { username, password });
  return post('/token', {}, { 'x-api-key': apiKey });
}

/** `{ token, expires_in }` for a username and password. */
export function login(username, password) {
  return post('/token', { username, password });
}

/** A throwaway account with a random name and password. */
export function guest() {
  const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');
  return register(`guest-${hex(3)}`, hex(16));
}

/** The display name a token carries, as the gateway reads it (unverified: for show only). */
export function tokenName(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims.username || claims.preferred_username || claims.name || claims.email || claims.sub || claims.id || '';
  } catch {
    return '';
  }
}
