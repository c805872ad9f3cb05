// Unit tests of @gatehouse/client against a local node:http server: the single-flight
// refresh, what is retried and what is not, session mode, and the challenge parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createAuthFetch, authFetch, parseChallenges, readAuthInfo } from '../index.js';

// serve starts a server on 127.0.0.1 with handler and returns its base URL and a close.
async function serve(handler) {
  const srv = http.createServer(handler);
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

function deny(res, { status = 401, reason = 'token_expired', error = 'invalid_token', loginUrl, retryAfter } = {}) {
  const headers = { 'Content-Type': 'application/problem+json', 'X-Request-Id': 'req-1' };
  if (status === 401 || status === 403) {
    headers['WWW-Authenticate'] = `Bearer realm="orders"${error ? `, error="${error}"` : ''}`;
  }
  if (retryAfter) headers['Retry-After'] = retryAfter;
  res.writeHead(status, headers);
  res.end(JSON.stringify({ status, reason, request_id: 'req-1', ...(loginUrl ? { login_url: loginUrl } : {}) }));
}

// tokens is a token holder whose refresh moves tok-N to tok-N+1 and counts.
function tokens() {
  const t = { n: 0, refreshes: 0 };
  t.getToken = () => `tok-${t.n}`;
  t.refresh = async () => { t.refreshes++; t.n++; };
  return t;
}

test('ten concurrent 401s share one refresh, then all succeed', { timeout: 20_000 }, async () => {
  let waiting = [];
  const s = await serve((req, res) => {
    if (req.headers.authorization === 'Bearer tok-1') return res.end('ok');
    // hold every stale request until all ten have arrived
    waiting.push(() => deny(res));
    if (waiting.length === 10) { waiting.forEach((f) => f()); waiting = []; }
  });
  try {
    const t = tokens();
    const f = createAuthFetch(t);
    const statuses = await Promise.all(Array.from({ length: 10 }, () => f(`${s.url}/orders`).then((r) => r.status)));
    assert.deepEqual(statuses, Array(10).fill(200));
    assert.equal(t.refreshes, 1);
  } finally { await s.close(); }
});

test('a 401 after a refresh it did not wait for retries without refreshing again', { timeout: 20_000 }, async () => {
  let releaseSlow;
  const slowArrived = new Promise((r) => { releaseSlow = r; });
  let answerSlow;
  const s = await serve((req, res) => {
    if (req.headers.authorization === 'Bearer tok-1') return res.end('ok');
    if (req.url === '/slow') { answerSlow = () => deny(res); releaseSlow(); return; }
    deny(res);
  });
  try {
    const t = tokens();
    const f = createAuthFetch(t);
    const slow = f(`${s.url}/slow`);
    await slowArrived;
    assert.equal((await f(`${s.url}/fast`)).status, 200);
    answerSlow();
    assert.equal((await slow).status, 200);
    assert.equal(t.refreshes, 1);
  } finally { await s.close(); }
});

test('what is refreshed, retried, or sent to login', { timeout: 20_000 }, async () => {
  const cases = [
    { name: 'bearer invalid_token', deny: { reason: 'token_revoked' }, refreshes: 1, hits: 2, login: 0, status: 200 },
    { name: 'problem reason token_expired only', deny: { error: null }, refreshes: 1, hits: 2, login: 0, status: 200 },
    { name: 'credentials_missing: login, no refresh', deny: { reason: 'credentials_missing', error: null, loginUrl: 'http://idp.test/login' }, refreshes: 0, hits: 1, login: 1, status: 401 },
    { name: '403 never retried', deny: { status: 403, reason: 'insufficient_scope', error: 'insufficient_scope' }, refreshes: 0, hits: 1, login: 0, status: 403 },
    { name: '429 never retried', deny: { status: 429, reason: 'too_many_failures', retryAfter: '1' }, refreshes: 0, hits: 1, login: 0, status: 429 },
  ];
  for (const c of cases) {
    let hits = 0;
    const s = await serve((req, res) => {
      hits++;
      if (req.headers.authorization === 'Bearer tok-1') return res.end('ok');
      deny(res, c.deny);
    });
    try {
      const t = tokens();
      const logins = [];
      const f = createAuthFetch({ ...t, refresh: t.refresh, onLoginRequired: (url) => { logins.push(url); } });
      const res = await f(`${s.url}/x`, { method: 'POST', body: 'payload' });
      assert.equal(res.status, c.status, c.name);
      assert.equal(t.refreshes, c.refreshes, c.name);
      assert.equal(hits, c.hits, c.name);
      assert.equal(logins.length, c.login, c.name);
      if (c.deny.loginUrl) assert.equal(logins[0], c.deny.loginUrl);
    } finally { await s.close(); }
  }
});

test('still 401 after one refresh: onLoginRequired, the 401 returned, body replayed', { timeout: 20_000 }, async () => {
  const bodies = [];
  const s = await serve((req, res) => {
    let b = '';
    req.on('data', (d) => { b += d; });
    req.on('end', () => { bodies.push(b); deny(res, { loginUrl: 'http://app.test/_gatehouse/login' }); });
  });
  try {
    const t = tokens();
    const seen = [];
    const res = await authFetch(`${s.url}/x`, { method: 'PUT', body: JSON.stringify({ a: 1 }) }, { ...t, refresh: t.refresh, onLoginRequired: (url, info) => seen.push([url, info.reason, info.requestId]) });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).reason, 'token_expired', 'the body is still readable');
    assert.equal(t.refreshes, 1);
    assert.deepEqual(bodies, ['{"a":1}', '{"a":1}']);
    assert.deepEqual(seen, [['http://app.test/_gatehouse/login', 'token_expired', 'req-1']]);
  } finally { await s.close(); }
});

test('a failing refresh sends the user to log in once, without a retry', { timeout: 20_000 }, async () => {
  let hits = 0;
  const s = await serve((req, res) => { hits++; deny(res); });
  try {
    const errors = [];
    const logins = [];
    const f = createAuthFetch({ getToken: () => 'tok', refresh: () => Promise.reject(new Error('idp down')), onRefreshError: (e) => errors.push(e.message), onLoginRequired: (u) => logins.push(u) });
    assert.equal((await f(s.url)).status, 401);
    assert.equal(hits, 1);
    assert.deepEqual(errors, ['idp down']);
    assert.equal(logins.length, 1);
  } finally { await s.close(); }
});

test('session mode: no token, the login URL from the problem body', { timeout: 20_000 }, async () => {
  const seen = [];
  const s = await serve((req, res) => {
    seen.push(req.headers.authorization ?? null);
    deny(res, { reason: 'credentials_missing', error: null, loginUrl: 'https://app.test/_gatehouse/login?rd=%2Forders' });
  });
  try {
    const logins = [];
    const f = createAuthFetch({ session: true, onLoginRequired: (u) => logins.push(u) });
    const res = await f(`${s.url}/orders`);
    assert.equal(res.status, 401);
    assert.deepEqual(seen, [null]);
    assert.deepEqual(logins, ['https://app.test/_gatehouse/login?rd=%2Forders']);
  } finally { await s.close(); }
});

test('origins: the token goes only to the listed origins', { timeout: 20_000 }, async () => {
  const got = [];
  const s = await serve((req, res) => { got.push(req.headers['x-api-key'] ?? null); res.end('ok'); });
  try {
    const f = createAuthFetch({ getToken: () => 'gk_live_secret', header: 'X-API-Key', scheme: '', origins: ['http://elsewhere.test'] });
    await f(s.url);
    const g = createAuthFetch({ getToken: () => 'gk_live_secret', header: 'X-API-Key', scheme: '', origins: [s.url] });
    await g(s.url);
    assert.deepEqual(got, [null, 'gk_live_secret']);
  } finally { await s.close(); }
});

test('createAuthFetch refuses options without getToken or session', { timeout: 20_000 }, () => {
  assert.throws(() => createAuthFetch({}), /getToken is required/);
});

test('parseChallenges', { timeout: 20_000 }, () => {
  const cases = [
    ['Bearer realm="orders", error="invalid_token", error_description="expired 4m12s ago"',
      [{ scheme: 'Bearer', token68: null, params: { realm: 'orders', error: 'invalid_token', error_description: 'expired 4m12s ago' } }]],
    ['Negotiate YIIB==, Basic realm="a, b", charset="UTF-8"',
      [{ scheme: 'Negotiate', token68: 'YIIB==', params: {} }, { scheme: 'Basic', token68: null, params: { realm: 'a, b', charset: 'UTF-8' } }]],
    ['Bearer', [{ scheme: 'Bearer', token68: null, params: {} }]],
    ['Bearer a=', [{ scheme: 'Bearer', token68: 'a=', params: {} }]], // a token68, as RFC 9110's grammar reads it
    ['Bearer ERROR=invalid_token, error="second"', [{ scheme: 'Bearer', token68: null, params: { error: 'invalid_token' } }]],
    ['Bearer a="q\\"uote"', [{ scheme: 'Bearer', token68: null, params: { a: 'q"uote' } }]],
    [', Bearer realm="x",, Basic realm="y",', [{ scheme: 'Bearer', token68: null, params: { realm: 'x' } }, { scheme: 'Basic', token68: null, params: { realm: 'y' } }]],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseChallenges(input), want, input);
  for (const bad of ['Bearer realm="x', 'Bearer realm="x" junk', 'Bearer realm="x", a=', '"quoted"']) {
    assert.throws(() => parseChallenges(bad), SyntaxError, bad);
  }
});

test('readAuthInfo on a HEAD 401 reads the reason from WWW-Authenticate alone', { timeout: 20_000 }, async () => {
  const res = new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="x", error="invalid_token"', 'X-Request-Id': 'abc' } });
  const info = await readAuthInfo(res);
  assert.equal(info.reason, 'invalid_token');
  assert.equal(info.requestId, 'abc');
  assert.equal(info.loginUrl, null);
});
