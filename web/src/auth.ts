// The bearer token of the daemon's TCP listener. It is given once in the URL fragment
// (/ui/#token=...: a fragment never reaches the server, logs or Referer headers) or typed into the
// login form, kept in sessionStorage (this tab only, gone when it closes) and sent by api.ts as
// `Authorization: Bearer`. The fragment is removed from the address bar at once.

const KEY = "plexus.token";

/** Moves a `#token=...` fragment into session storage; returns true when there was one. */
export function takeTokenFromUrl(): boolean {
  const m = /^#(?:.*&)?token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  return true;
}

export function getToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function setToken(token: string): void {
  if (token) sessionStorage.setItem(KEY, token.trim());
  else sessionStorage.removeItem(KEY);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}
