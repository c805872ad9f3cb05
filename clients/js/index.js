// @gatehouse/client: fetch that handles a 401 right. On a 401 that says the token is
// invalid or expired it refreshes once (concurrent 401s share one refresh) and sends the
// request again; a 401 it cannot fix calls onLoginRequired; a 403 or 429 is never
// retried. No runtime dependencies: it runs wherever fetch, Request and Response exist
// (browsers, Node.js 18 and later, Deno, Bun, workers).

/** The reasons (problem body) and Bearer error codes after which a refresh may help. */
const REFRESH_REASONS = new Set(['invalid_token', 'token_expired']);

/**
 * createAuthFetch returns a fetch-compatible function bound to options; its refresh
 * state is shared by every call made through it.
 * @param {import('./index.d.ts').AuthFetchOptions} [options]
 * @returns {import('./index.d.ts').AuthFetch}
 */
export function createAuthFetch(options = {}) {
  const opts = { ...options };
  const baseFetch = opts.fetch ?? ((...args) => globalThis.fetch(...args));
  const session = opts.session === true;
  if (!session && typeof opts.getToken !== 'function') {
    throw new TypeError('createAuthFetch: getToken is required (or session: true, for a cookie session)');
  }
  const header = opts.header ?? 'Authorization';
  const scheme = opts.scheme === undefined ? 'Bearer' : opts.scheme;
  const origins = opts.origins ? new Set(opts.origins.map((o) => new URL(o).origin)) : null;

  let generation = 0; // refreshes that succeeded
  let inflight = null; // the refresh in progress: a promise of true (refreshed) or false

  // refreshOnce renews the token for every request that failed with the token of
  // generation gen: the first starts the refresh, the others await it, and a request
  // whose token is older than the current one retries without refreshing again.
  function refreshOnce(gen) {
    if (gen !== generation) return Promise.resolve(true);
    if (inflight) return inflight;
    inflight = (async () => {
      try {
        await opts.refresh();
        generation++;
        return true;
      } catch (err) {
        opts.onRefreshError?.(err);
        return false;
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  }

  async function send(request, attach) {
    const gen = generation; // read before getToken, so a refresh in between is not missed
    const req = request.clone();
    if (attach) {
      const token = await opts.getToken();
      if (token) {
        req.headers.set(header, scheme ? `${scheme} ${token}` : token);
      }
    }
    return { res: await baseFetch(req), gen };
  }

  return async function authFetch(input, init) {
    let request = new Request(input, init);
    if (session) {
      request = new Request(request, { credentials: 'include' });
    }
    const attach = !session && (!origins || origins.has(new URL(request.url).origin));
    const first = await send(request, attach);
    if (first.res.status !== 401) return first.res;

    let res = first.res;
    const info = await readAuthInfo(res);
    const refreshable = REFRESH_REASONS.has(info.reason ?? '') || info.error === 'invalid_token';
    if (attach && opts.refresh && refreshable) {
      if (await refreshOnce(first.gen)) {
        drain(res);
        res = (await send(request, attach)).res;
        if (res.status !== 401) return res;
      }
    }
    const last = res === first.res ? info : await readAuthInfo(res);
    if (opts.onLoginRequired) {
      await opts.onLoginRequired(last.loginUrl ?? null, { ...last, status: res.status });
    }
    return res;
  };
}

/**
 * authFetch sends one request with options; concurrent calls share a refresh only when
 * they pass the same options object (its state is kept per object).
 * @type {typeof import('./index.d.ts').authFetch}
 */
export function authFetch(input, init, options) {
  let f = bound.get(options);
  if (!f) {
    f = createAuthFetch(options);
    bound.set(options, f);
  }
  return f(input, init);
}
const bound = new WeakMap();

/** Cancel an unread body so its connection can be reused. */
function drain(res) {
  res.body?.cancel().catch(() => {});
}

/**
 * readAuthInfo reads why a response refused the request, without consuming its body:
 * the problem body's reason, login_url and request_id (RFC 9457, as Gatehouse sends),
 * else the Bearer challenge's error; the X-Request-Id header; the parsed challenges.
 * Cross-origin, the headers are readable only when the server exposes them (Gatehouse
 * exposes WWW-Authenticate and X-Request-Id).
 * @param {Response} res
 * @returns {Promise<import('./index.d.ts').AuthInfo>}
 */
export async function readAuthInfo(res) {
  const info = { status: res.status, reason: null, error: null, detail: null, requestId: null, loginUrl: null, challenges: [] };
  const www = res.headers.get('WWW-Authenticate');
  if (www) {
    try {
      info.challenges = parseChallenges(www);
    } catch {
      info.challenges = [];
    }
  }
  const bearer = info.challenges.find((c) => c.scheme.toLowerCase() === 'bearer');
  if (bearer) {
    info.error = bearer.params.error ?? null;
    info.detail = bearer.params.error_description ?? null;
  }
  const type = (res.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  if ((type === 'application/problem+json' || type === 'application/json') && !res.bodyUsed) {
    try {
      const p = await res.clone().json();
      if (p && typeof p === 'object') {
        if (typeof p.reason === 'string') info.reason = p.reason;
        if (typeof p.detail === 'string') info.detail = p.detail;
        if (typeof p.request_id === 'string') info.requestId = p.request_id;
        if (typeof p.login_url === 'string') info.loginUrl = p.login_url;
      }
    } catch {
      // not JSON after all: the headers still say what they say
    }
  }
  info.reason ??= info.error;
  info.requestId ??= res.headers.get('X-Request-Id');
  return info;
}

const isTchar = (c) => c !== undefined && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(c);
const isToken68Char = (c) => c !== undefined && /[A-Za-z0-9\-._~+/]/.test(c);
const isCTL = (c) => { const n = c.charCodeAt(0); return (n < 0x20 && n !== 0x09) || n === 0x7f; };

/**
 * parseChallenges parses a WWW-Authenticate value (RFC 9110 section 11.6.1), which may
 * hold several challenges, into [{scheme, token68, params}]. Parameter names are
 * lower-cased, values unquoted, and the first of duplicate parameters is kept. It reads
 * the grammar as the gateway's own parser does (a test feeds both the same values) and
 * throws a SyntaxError, which never quotes the input, on a malformed value.
 * @param {string} value
 * @returns {import('./index.d.ts').Challenge[]}
 */
export function parseChallenges(value) {
  const s = String(value);
  let pos = 0;
  const out = [];
  const fail = (at, msg) => { throw new SyntaxError(`WWW-Authenticate: byte ${at}: ${msg}`); };
  const owsEnd = (i) => { while (s[i] === ' ' || s[i] === '\t') i++; return i; };
  const skipSeparators = () => { while (s[pos] === ' ' || s[pos] === '\t' || s[pos] === ',') pos++; };
  const token = () => { const start = pos; while (isTchar(s[pos])) pos++; return s.slice(start, pos); };
  // Own properties only, defined rather than assigned: a parameter named __proto__ or
  // constructor is a parameter like any other.
  const addParam = (c, name, v) => {
    const k = name.toLowerCase();
    if (!Object.hasOwn(c.params, k)) Object.defineProperty(c.params, k, { value: v, enumerable: true, writable: true, configurable: true });
  };

  const quoted = () => {
    const open = pos++;
    let v = '';
    while (pos < s.length) {
      const c = s[pos];
      if (c === '"') { pos++; return v; }
      if (c === '\\') {
        if (pos + 1 >= s.length) fail(open, 'unterminated quoted string');
        if (isCTL(s[pos + 1])) fail(pos + 1, 'control character in quoted string');
        v += s[pos + 1];
        pos += 2;
      } else if (isCTL(c)) {
        fail(pos, 'control character in quoted string');
      } else {
        v += c;
        pos++;
      }
    }
    return fail(open, 'unterminated quoted string');
  };
  const paramValue = () => {
    if (pos >= s.length || s[pos] === ',') fail(pos, 'parameter without a value');
    if (s[pos] === '"') return quoted();
    const v = token();
    if (v === '') fail(pos, 'invalid character in parameter value');
    return v;
  };
  // paramList runs on a ',' and stops at the first element that starts the next challenge.
  const paramList = (c) => {
    for (;;) {
      skipSeparators();
      if (pos >= s.length) return;
      const start = pos;
      const name = token();
      if (name === '') fail(start, 'expected an auth-param or an auth scheme');
      const j = owsEnd(pos);
      if (s[j] !== '=') { pos = start; return; }
      pos = owsEnd(j + 1);
      addParam(c, name, paramValue());
      pos = owsEnd(pos);
      if (pos >= s.length) return;
      if (s[pos] !== ',') fail(pos, "expected ','");
    }
  };
  const param = (c, name, eq) => {
    if (name.includes('/')) fail(pos, 'invalid character in parameter name');
    pos = owsEnd(eq + 1);
    addParam(c, name, paramValue());
    pos = owsEnd(pos);
    if (pos >= s.length) return;
    if (s[pos] !== ',') fail(pos, "expected ','");
    paramList(c);
  };
  // first parses the element right after "scheme 1*SP", the only place for a token68.
  const first = (c) => {
    const runStart = pos;
    let i = pos;
    while (isTchar(s[i]) || s[i] === '/') i++;
    if (i === runStart) fail(i, 'expected a token68 or an auth-param');
    const runEnd = i;
    while (s[i] === '=') i++;
    const pads = i - runEnd;
    const after = owsEnd(i);
    const run = s.slice(runStart, runEnd);
    if (after >= s.length || s[after] === ',') {
      for (let k = runStart; k < runEnd; k++) {
        if (!isToken68Char(s[k])) fail(k, pads === 1 ? 'parameter without a value' : 'invalid character in token68');
      }
      c.token68 = s.slice(runStart, i);
      pos = after;
      if (pos >= s.length) return;
      skipSeparators();
      if (pos >= s.length) return;
      // A challenge with a token68 has no parameters: the next element starts a challenge.
      const start = pos;
      if (token() !== '' && s[owsEnd(pos)] === '=') fail(start, 'parameter after a token68');
      pos = start;
      return;
    }
    if (pads === 0 && s[after] === '=') { pos = runEnd; param(c, run, after); return; }
    if (pads === 1) { pos = runEnd; param(c, run, runEnd); return; }
    fail(after, "expected ',' after token68");
  };

  skipSeparators();
  while (pos < s.length) {
    const start = pos;
    const scheme = token();
    if (scheme === '') fail(start, 'expected an auth scheme');
    const c = { scheme, token68: null, params: {} };
    const wsStart = pos;
    pos = owsEnd(pos);
    if (pos >= s.length) { out.push(c); break; }
    if (s[pos] === '=') fail(start, 'auth-param without an auth scheme');
    if (pos === wsStart && s[pos] !== ',') fail(pos, 'expected a space after the auth scheme');
    if (s[pos] === ',') paramList(c);
    else first(c);
    out.push(c);
  }
  return out;
}
