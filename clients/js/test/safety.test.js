// What a hostile or unrelated server can make the client do: a login_url is passed on
// only when it is an http(s) URL on a trusted origin and came in answer to a request
// the client vouched for, and without `origins` the credential goes only to the origin
// of the first request (the page's own, in a browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createAuthFetch } from '../index.js';

async function serve(handler) {
  const srv = http.createServer(handler);
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

test('login_url: only http(s) on a trusted origin reaches onLoginRequired', { timeout: 20_000 }, async () => {
  let loginUrl = '';
  const s = await serve((req, res) => {
    res.writeHead(401, { 'Content-Type': 'application/problem+json' });
    res.end(JSON.stringify({ reason: 'credentials_missing', login_url: loginUrl }));
  });
  try {
    for (const [sent, want] of [
      ['javascript:alert(document.cookie)', null],
      ['https://evil.example/login', null],
      ['data:text/html,hi', null],
      [s.url + '/_gatehouse/login?rd=%2F', s.url + '/_gatehouse/login?rd=%2F'],
      ['/_gatehouse/login', s.url + '/_gatehouse/login'],
    ]) {
      loginUrl = sent;
      let got = 'not called';
      const f = createAuthFetch({ getToken: () => 'tok', onLoginRequired: (u) => { got = u; } });
      await f(s.url + '/x');
      assert.equal(got, want, `login_url ${sent}`);
    }
  } finally {
    await s.close();
  }
});

test('without origins the credential goes only to the first request\'s origin', { timeout: 20_000 }, async () => {
  const seen = [];
  const a = await serve((req, res) => { seen.push(['a', req.headers.authorization]); res.end('ok'); });
  let called = false;
  const b = await serve((req, res) => {
    seen.push(['b', req.headers.authorization]);
    res.writeHead(401, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ login_url: 'https://evil.example/' }));
  });
  try {
    const f = createAuthFetch({ getToken: () => 'secret-token', onLoginRequired: () => { called = true; } });
    await f(a.url + '/first');
    await f(b.url + '/third-party');
    assert.deepEqual(seen, [['a', 'Bearer secret-token'], ['b', undefined]]);
    assert.equal(called, false, 'a 401 from an origin the client did not vouch for asked for a login');
  } finally {
    await a.close();
    await b.close();
  }
});
