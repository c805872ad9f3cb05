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

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * parseChallenges parses a WWW-Authenticate value (RFC 9110 section 11.6.1), which may
 * hold several challenges, into [{scheme, token68, params}]. Parameter names are
 * lower-cased and values unquoted. It throws a SyntaxError on malformed input.
 * @param {string} value
 * @returns {import('./index.d.ts').Challenge[]}
 */
export function parseChallenges(value) {
  const s = String(value);
  let i = 0;
  const out = [];
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = () => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i])) i++;
    return s.slice(start, i);
  };
  const fail = (msg) => {
    throw new SyntaxError(`WWW-Authenticate: byte ${i}: ${msg}`);
  };
  const quoted = () => {
    i++; // opening quote
    let v = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\') i++;
      if (i >= s.length) break;
      v += s[i++];
    }
    if (s[i] !== '"') fail('unterminated quoted string');
    i++;
    return v;
  };
  let current = null;
  while (i < s.length) {
    ws();
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (i >= s.length) break;
    const name = token();
    if (!name) fail('expected a scheme or a parameter');
    ws();
    if (s[i] === '=' && current) {
      i++;
      ws();
      const isQuoted = s[i] === '"';
      const v = isQuoted ? quoted() : token();
      if (v === '' && !isQuoted) fail('parameter without a value');
      current.params[name.toLowerCase()] ??= v; // the first of duplicates wins
      ws();
      if (i < s.length && s[i] !== ',') fail('expected a comma');
      continue;
    }
    // a new challenge: scheme [token68 | params]
    current = { scheme: name, token68: null, params: {} };
    out.push(current);
    if (i < s.length && s[i] !== ',') {
      // a token68 directly after the scheme, unless it is a parameter
      const t0 = i;
      while (i < s.length && /[A-Za-z0-9\-._~+/]/.test(s[i])) i++;
      const body = s.slice(t0, i);
      let j = i;
      while (s[j] === '=') j++;
      let k = j;
      while (s[k] === ' ' || s[k] === '\t') k++;
      if (body && j > i && (k >= s.length || s[k] === ',')) {
        current.token68 = s.slice(t0, j);
        i = k;
      } else if (body && j === i && (k >= s.length || s[k] === ',')) {
        current.token68 = body;
        i = k;
      } else {
        i = t0; // parameters follow
      }
    }
  }
  return out;
}
