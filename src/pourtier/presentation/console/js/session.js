// The signed-in session: tokens, their refresh, and who is signed in.
//
// Tokens live in sessionStorage: a reload keeps the person signed in, closing
// the tab forgets them, and nothing persists on disk for the next user of the
// machine or is shared with other tabs (each tab has its own session, so two
// tabs never race one refresh token). No cookie: the API takes bearer tokens,
// so there is no ambient credential for another site to ride (no CSRF). The
// page's Content-Security-Policy runs only its own scripts, which is what
// keeps the tokens from other code.

const KEY = "pourtier.session";
const listeners = new Set();
let state = load();
let timer = null;
let refreshing = null;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(next) {
  state = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  schedule();
  for (const listener of listeners) listener(state);
}

export const current = () => state;
export const accessToken = () => state?.access;
export const onChange = (listener) => listeners.add(listener);

/** Keep the answer of login, register or refresh. */
export function start(tokens) {
  save({
    access: tokens.access_token,
    refresh: tokens.refresh_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
    user: tokens.user ?? state?.user,
  });
}

export function setUser(user) {
  if (state) save({ ...state, user });
}

export function end() {
  save(null);
}

// Refresh a little before the access token expires, so requests never meet
// an expired one; a 401 anyway (clock skew, a sleeping laptop) refreshes too.
function schedule() {
  clearTimeout(timer);
  if (!state) return;
  const wait = Math.max(1000, state.expiresAt - Date.now() - 30_000);
  timer = setTimeout(() => refresh().catch(() => {}), wait);
}

/** One refresh at a time: concurrent callers share it (the token rotates). */
export function refresh() {
  if (!state) return Promise.reject(new Error("Not signed in"));
  refreshing ??= (async () => {
    try {
      const response = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: state.refresh }),
      });
      if (!response.ok) {
        end();
        throw new Error("Your session has ended: sign in again.");
      }
      start(await response.json());
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

schedule();
