// Tessera's browser session. The access token lives only in this module's memory (never
// in Web Storage, a readable cookie or the URL); the refresh token lives only in the
// httpOnly cookie the auth-service sets in browser mode, which scripts cannot read.
//
// Refresh is single flight (one request at a time per tab), proactive (a timer fires a
// little before the access token expires) and reactive (a 401 invalid_token triggers one
// refresh and one retry). Tabs share fresh tokens and logouts over a BroadcastChannel; when
// two tabs still refresh at once, the server's grace window gives both the same successor.

/** The header that asks for cookie transport and satisfies the server's CSRF check. */
const BROWSER = { 'X-Tessera-Client': 'browser' };
/** Refresh this many seconds before expiry at most (a quarter of the lifetime if less). */
const MAX_MARGIN_SECS = 30;

let accessToken = null;
let refreshTimer = null;
let inflight = null;
const signedOutListeners = new Set();
const channel = 'BroadcastChannel' in self ? new BroadcastChannel('tessera-auth') : null;

/** The service said no: `code` is its stable error code, `message` its text. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** No session (never logged in, logged out, or the refresh cookie was refused). */
export class LoginRequired extends Error {}

/** Calls `listener(reason)` whenever this tab's session ends. */
export function onSignedOut(listener) {
  signedOutListeners.add(listener);
}

export function isSignedIn() {
  return accessToken !== null;
}

export async function register(username, password) {
  return json(await post('/auth/register', { username, password }));
}

export async function login(username, password) {
  const body = await json(await post('/auth/login', { username, password }));
  adopt(body.access_token, body.expires_in, true);
}

/**
 * Gets a new access token with the refresh cookie (also how a reloaded page resumes its
 * session). Concurrent callers share one request.
 */
export function refreshSession() {
  inflight ??= doRefresh().finally(() => {
    inflight = null;
  });
  return inflight;
}

async function doRefresh() {
  const response = await post('/auth/refresh', {});
  if (response.ok) {
    const body = await response.json();
    adopt(body.access_token, body.expires_in, true);
    return;
  }
  const error = await errorOf(response);
  if (response.status === 401 || response.status === 403) {
    // Tell the other tabs only if this one had a session: a fresh tab finding no cookie
    // says nothing about theirs.
    end(error.message, accessToken !== null);
    throw new LoginRequired(error.message);
  }
  throw error;
}

/**
 * `fetch` with the access token; resumes the session first if this tab has no token yet,
 * and on a 401 invalid_token refreshes once and retries once.
 */
export async function authorizedFetch(path, options = {}) {
  if (accessToken === null) await refreshSession();
  const sent = accessToken;
  let response = await fetch(path, withBearer(options, sent));
  if (response.status === 401 && isInvalidToken(response)) {
    // Another request may have refreshed already; only refresh if ours is still current.
    if (accessToken === sent) await refreshSession();
    response = await fetch(path, withBearer(options, accessToken));
  }
  return response;
}

/** The JSON of a successful response, or throws its `ApiError`. */
export async function json(response) {
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

/** Ends this session (the server deletes the cookie and the session). */
export async function logout() {
  try {
    await post('/auth/logout', {});
  } finally {
    end('You have logged out.', true);
  }
}

/** Ends every session of the account, on every device. */
export async function logoutEverywhere() {
  await json(await authorizedFetch('/auth/logout-all', { method: 'POST' }));
  end('You have logged out everywhere.', true);
}

function post(path, body) {
  return fetch(path, {
    method: 'POST',
    headers: { ...BROWSER, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
}

function withBearer(options, token) {
  const headers = new Headers(options.headers);
  headers.set('Authorization', `Bearer ${token}`);
  return { ...options, headers, credentials: 'same-origin' };
}

function isInvalidToken(response) {
  return (response.headers.get('WWW-Authenticate') ?? '').includes('invalid_token');
}

async function errorOf(response) {
  try {
    const body = await response.json();
    return new ApiError(response.status, body.error, body.message);
  } catch {
    return new ApiError(response.status, 'unavailable', `The service answered HTTP ${response.status}.`);
  }
}

function adopt(token, expiresIn, announce) {
  accessToken = token;
  clearTimeout(refreshTimer);
  const margin = Math.min(MAX_MARGIN_SECS, expiresIn / 4);
  // A little jitter keeps tabs that share tokens from all firing at the same instant.
  const delay = (expiresIn - margin) * (0.9 + Math.random() * 0.1) * 1000;
  refreshTimer = setTimeout(() => refreshSession().catch(() => {}), delay);
  if (announce) channel?.postMessage({ type: 'token', token, expiresIn });
}

function end(reason, announce) {
  accessToken = null;
  clearTimeout(refreshTimer);
  if (announce) channel?.postMessage({ type: 'signed-out', reason });
  for (const listener of signedOutListeners) listener(reason);
}

channel?.addEventListener('message', ({ data }) => {
  if (data?.type === 'token') adopt(data.token, data.expiresIn, false);
  if (data?.type === 'signed-out' && accessToken !== null) end(data.reason, false);
});
