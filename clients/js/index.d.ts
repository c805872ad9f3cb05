// Types of @gatehouse/client.

/** One challenge of a WWW-Authenticate field: parameter names lower-cased, values unquoted. */
export interface Challenge {
  scheme: string;
  token68: string | null;
  params: Record<string, string>;
}

/** Why a response refused the request, as readAuthInfo reads it. */
export interface AuthInfo {
  status: number;
  /** The problem body's reason (Gatehouse's reason codes), else the Bearer challenge's error. */
  reason: string | null;
  /** The Bearer challenge's error code (invalid_token, insufficient_scope, invalid_request). */
  error: string | null;
  /** The problem body's detail, else the Bearer challenge's error_description. */
  detail: string | null;
  /** The problem body's request_id, else the X-Request-Id header. */
  requestId: string | null;
  /** The problem body's login_url: where the user logs in (session mode). */
  loginUrl: string | null;
  challenges: Challenge[];
}

export interface AuthFetchOptions {
  /** Returns the current access token (token mode). Called before every request. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /**
   * Renews the token after a 401 that says it is invalid or expired, so that getToken
   * returns the new one. Concurrent 401s share one call. A rejection means "log in again".
   */
  refresh?: () => unknown | Promise<unknown>;
  /**
   * Called with the login URL (the problem body's login_url, or null) when a 401 remains
   * after at most one refresh, or at once in session mode. The response is still returned.
   */
  onLoginRequired?: (loginUrl: string | null, info: AuthInfo) => unknown | Promise<unknown>;
  /** Called with the error when refresh rejects. */
  onRefreshError?: (error: unknown) => void;
  /** Session mode: send cookies (credentials: 'include') and no token. */
  session?: boolean;
  /** The header that carries the token; Authorization by default. */
  header?: string;
  /** The scheme before the token; 'Bearer' by default, '' for none (an API-key header). */
  scheme?: string;
  /** When set, the token is attached only to requests for these origins. */
  origins?: string[];
  /** The fetch to use; globalThis.fetch by default. */
  fetch?: typeof fetch;
}

export type AuthFetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** Returns a fetch-compatible function whose refresh state is shared by all its calls. */
export function createAuthFetch(options?: AuthFetchOptions): AuthFetch;

/** One request; calls with the same options object share their refresh state. */
export function authFetch(input: RequestInfo | URL, init: RequestInit | undefined, options: AuthFetchOptions): Promise<Response>;

/** Reads why a response refused the request without consuming its body. */
export function readAuthInfo(response: Response): Promise<AuthInfo>;

/** Parses a WWW-Authenticate value; throws a SyntaxError on malformed input. */
export function parseChallenges(value: string): Challenge[];
