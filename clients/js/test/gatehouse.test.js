// @gatehouse/client against a real Gatehouse: `gatehouse demo`, started by the Go test
// TestJSClientAgainstGatehouse (cmd/gatehouse), which passes its address and sample
// credentials in the environment. Run alone, these tests skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthFetch } from '../index.js';

const env = process.env;
const base = env.GATEHOUSE_URL;
const skip = base ? false : 'GATEHOUSE_URL is not set: run `go test ./cmd/gatehouse -run TestJSClient`, which starts gatehouse demo';

// clientCredentials gets a token from the demo's own token service, counting calls.
function tokenService() {
  const s = { token: env.GATEHOUSE_EXPIRED, refreshes: 0 };
  s.getToken = () => s.token;
  s.refresh = async () => {
    s.refreshes++;
    const res = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { Authorization: 'Basic ' + btoa(`${env.GATEHOUSE_CLIENT_ID}:${env.GATEHOUSE_CLIENT_SECRET}`), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=orders:read',
    });
    assert.equal(res.status, 200, 'the token service issues a token');
    s.token = (await res.json()).access_token;
  };
  return s;
}

// counting wraps fetch to count the requests sent.
function counting() {
  const c = { sent: 0 };
  c.fetch = (req) => { c.sent++; return fetch(req); };
  return c;
}

test('an expired token: ten concurrent 401 token_expired, one refresh from the token service, ten 200s', { skip, timeout: 30_000 }, async () => {
  const ts = tokenService();
  const c = counting();
  const logins = [];
  const f = createAuthFetch({ ...ts, getToken: ts.getToken, refresh: ts.refresh, fetch: c.fetch, onLoginRequired: (u) => logins.push(u) });
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => f(`${base}/orders/${i}`).then(async (r) => [r.status, (await r.json()).identity?.['X-Gatehouse-Subject']])));
  assert.equal(ts.refreshes, 1);
  assert.equal(c.sent, 20, 'each request sent twice: with the expired token, then the new one');
  assert.deepEqual(results, Array(10).fill([200, env.GATEHOUSE_CLIENT_ID]));
  assert.deepEqual(logins, []);
});

// revokedToken gets a token from the token service and revokes it.
async function revokedToken(ts) {
  await ts.refresh();
  const revoked = ts.token;
  const rv = await fetch(`${base}/oauth2/revoke`, {
    method: 'POST',
    headers: { Authorization: 'Basic ' + btoa(`${env.GATEHOUSE_CLIENT_ID}:${env.GATEHOUSE_CLIENT_SECRET}`), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `token=${encodeURIComponent(revoked)}`,
  });
  assert.equal(rv.status, 200);
  return revoked;
}

// A HEAD response has no body: the only sign of an invalid token is the challenge.
// (The expired token is not reused here: the test above spent its failure budget.)
test('a HEAD request: the reason comes from WWW-Authenticate alone', { skip, timeout: 30_000 }, async () => {
  const ts = tokenService();
  await revokedToken(ts);
  const f = createAuthFetch({ getToken: ts.getToken, refresh: ts.refresh });
  const res = await f(`${base}/orders`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(ts.refreshes, 2);
});

test('a revoked token is refreshed once; a POST body is sent again', { skip, timeout: 30_000 }, async () => {
  const ts = tokenService();
  const revoked = await revokedToken(ts);
  const c = counting();
  const f = createAuthFetch({ getToken: ts.getToken, refresh: ts.refresh, fetch: c.fetch });
  const res = await f(`${base}/orders`, { method: 'POST', body: JSON.stringify({ item: 42 }), headers: { 'Content-Type': 'application/json' } });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).method, 'POST');
  assert.equal(ts.refreshes, 2);
  assert.equal(c.sent, 2);
  assert.notEqual(ts.token, revoked);
});

test('403 insufficient_scope: no refresh, no retry, no login', { skip, timeout: 30_000 }, async () => {
  const c = counting();
  let refreshes = 0;
  const logins = [];
  const f = createAuthFetch({ getToken: () => env.GATEHOUSE_READONLY, refresh: () => { refreshes++; }, fetch: c.fetch, onLoginRequired: (u) => logins.push(u) });
  const res = await f(`${base}/admin/users`);
  assert.equal(res.status, 403);
  assert.equal((await res.json()).reason, 'insufficient_scope');
  assert.deepEqual([c.sent, refreshes, logins.length], [1, 0, 0]);
});

test('an API key in its own header', { skip, timeout: 30_000 }, async () => {
  const f = createAuthFetch({ getToken: () => env.GATEHOUSE_APIKEY, header: 'X-API-Key', scheme: '' });
  const res = await f(`${base}/orders`);
  assert.equal(res.status, 200);
});

// Last: it spends the failure budget of the demo user from this address.
test('a wrong password: 401 credentials_invalid goes to login without a refresh; 429 is never retried', { skip, timeout: 30_000 }, async () => {
  const c = counting();
  let refreshes = 0;
  const seen = [];
  const f = createAuthFetch({
    getToken: () => btoa('demo:wrong-password'), scheme: 'Basic', fetch: c.fetch,
    refresh: () => { refreshes++; }, onLoginRequired: (u, info) => seen.push(info.reason),
  });
  let res;
  for (let i = 0; i < 20; i++) {
    res = await f(`${base}/admin/users`);
    if (res.status === 429) break;
    assert.equal(res.status, 401);
  }
  assert.equal(res.status, 429, 'the failure budget refuses the guesser');
  assert.ok(Number(res.headers.get('Retry-After')) >= 1);
  assert.equal(refreshes, 0);
  assert.equal(c.sent, seen.length + 1, 'one send per call: nothing retried');
  assert.ok(seen.every((r) => r === 'credentials_invalid'), seen.join());
});
