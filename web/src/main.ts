// The console's entry: takes the token from the URL fragment, checks it against the daemon (or
// shows the login form), then routes #/ (topology) and #/instance/NAME.
import "./style.css";
import { ApiError, getJson, setUnauthorizedHandler } from "./api.js";
import { clearToken, getToken, setToken, takeTokenFromUrl } from "./auth.js";
import { onCounters, startPolling } from "./live/poller.js";
import { instancePage } from "./pages/instance.js";
import { topologyPage } from "./pages/topology.js";
import { h, replace } from "./ui/dom.js";

interface Status {
  version: string;
  uptimeSeconds: number;
  instances: number;
}

const app = document.getElementById("app")!;
const statusEl = document.getElementById("status")!;
let page: AbortController | undefined;
let statusTimer: number | undefined;
const STATUS_MS = 10_000;

function route(): void {
  page?.abort();
  page = new AbortController();
  const m = /^#\/instance\/([^/?]+)/.exec(location.hash);
  if (m) instancePage(app, decodeURIComponent(m[1]), page.signal);
  else topologyPage(app, page.signal);
}

function showLogin(message: string): void {
  page?.abort();
  page = undefined;
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "current-password",
    placeholder: "bearer token",
  });
  const form = h(
    "form",
    { class: "panel login", id: "login" },
    h("h2", {}, "Sign in"),
    h("p", {}, message),
    h(
      "p",
      { class: "muted" },
      "The token is the one in the daemon's --token-file. It stays in this tab only. A link of the form /ui/#token=TOKEN signs in directly.",
    ),
    input,
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken(input.value);
    void start();
  });
  replace(app, form);
  input.focus();
}

let statusText = "";
let live = true;

function showStatus(s?: Status): void {
  if (s) statusText = `plexusd ${s.version} · up ${Math.round(s.uptimeSeconds)} s · ${s.instances} instances`;
  if (!live) return;
  statusEl.textContent = statusText;
  statusEl.classList.remove("error");
}

async function start(): Promise<void> {
  try {
    showStatus(await getJson<Status>("/v1/status"));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      const had = getToken() !== undefined;
      clearToken();
      showLogin(had ? "That token was refused." : "This daemon wants a bearer token.");
      return;
    }
    replace(app, h("p", { class: "panel error" }, `The daemon does not answer: ${(e as Error).message}`));
    return;
  }
  // The header's facts (uptime, instance count) stay current while the page is open.
  if (statusTimer === undefined) {
    statusTimer = window.setInterval(
      () => void getJson<Status>("/v1/status").then(showStatus, () => undefined),
      STATUS_MS,
    );
    onCounters(() => {
      if (live) return;
      live = true;
      showStatus();
    });
  }
  startPolling((e) => {
    live = false;
    statusEl.textContent = `not live: ${(e as Error).message}`;
    statusEl.classList.add("error");
  });
  route();
}

setUnauthorizedHandler(() => showLogin("The daemon refused the token; sign in again."));
window.addEventListener("hashchange", () => {
  // A #token= link opened in a tab that already shows the console is a new sign-in.
  if (takeTokenFromUrl()) void start();
  else if (page) route();
});
takeTokenFromUrl();
void start();
