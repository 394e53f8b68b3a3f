/**
 * The status window: in Electron the preload provides `window.duplex`; in a browser (the demo
 * page, browser tests) the same contract runs over the admin API's WebSocket, with the node's
 * admin token asked once and kept for the tab (sessionStorage), never left in the address.
 */
import type { Command, DomainView, DuplexApi, StatusView } from '../main/ui/contract';
import { headline } from '../main/ui/words.js';
import { buttonStates, BUTTONS, clock, confirmText, quorumLine, rows, summary, targetStatus, windowWords } from './view.js';
import { connectWs } from './ws-api.js';

declare global {
  interface Window {
    duplex?: DuplexApi;
  }
}

/** No status for this long (pushes come every second): what is shown is stale. */
const STALE_MS = 3_000;
/** How often the other servers' own statuses (their commands' verdicts, probes) are asked for. */
const DOMAIN_EVERY_MS = 2_000;
const TOKEN_KEY = 'duplex-admin-token';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let api: DuplexApi | null = null;
let last: StatusView | null = null;
let lastAt = 0;
let domain: DomainView | null = null;
let linkWhy: string | null = null;
let busy = false;

function showError(message: string | null): void {
  const box = $('error');
  box.hidden = message === null;
  box.textContent = message ?? '';
}

function banner(level: string, title: string, detail: string): void {
  $('banner').className = `level-${level}`;
  $('banner-title').textContent = title;
  $('banner-detail').textContent = detail;
}

/** Greys out what is shown once no status has come for STALE_MS, and says since when. */
function checkStale(): void {
  if (!last) return;
  const age = Date.now() - lastAt;
  const stale = linkWhy !== null || age > STALE_MS;
  $('main').classList.toggle('stale', stale);
  if (stale) {
    banner('stale', `Connection lost ${Math.round(age / 1000)} s ago`, `${linkWhy ?? `no news from the node of ${last.server}`}; reconnecting… What you see is from ${clock(lastAt)}.`);
  } else {
    const h = headline(last);
    banner(h.level, h.title, h.detail);
  }
}

function cell(tr: HTMLTableRowElement, text: string, cls: string, header = false): HTMLTableCellElement {
  const td = document.createElement(header ? 'th' : 'td');
  if (header) td.setAttribute('scope', 'row');
  td.className = cls;
  td.textContent = text;
  tr.append(td);
  return td;
}

function render(s: StatusView): void {
  last = s;
  lastAt = Date.now();
  document.title = `Duplex · ${s.server} · ${s.role}`;
  $('title').textContent = `Duplex · domain ${s.domain} · revision ${s.sync.revision.n}`;
  $('summary').textContent = summary(s);
  ($('servers') as HTMLTableElement).tBodies[0]!.replaceChildren(...rows(s).map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.server = r.server;
    if (r.self) tr.className = 'self';
    cell(tr, r.server, 'server', true);
    cell(tr, r.address, 'address');
    cell(tr, r.role, `role role-${r.role.toLowerCase()}`);
    cell(tr, r.epoch, 'epoch');
    cell(tr, r.health, 'health');
    cell(tr, r.runtime, 'runtime');
    const probes = cell(tr, r.probes === null ? '—' : r.probes.length ? '' : 'none', 'probes');
    for (const p of r.probes ?? []) {
      const span = document.createElement('span');
      span.className = p.ok ? 'probe-ok' : 'probe-failing';
      span.textContent = `${p.name} ${p.ok ? 'ok' : 'FAILING'}`;
      probes.append(span);
    }
    cell(tr, r.failures, 'failures');
    cell(tr, r.versions, 'versions');
    cell(tr, r.outOfSync ? `${r.revision} — out of sync` : r.revision, `revision${r.outOfSync ? ' out-of-sync' : ''}`);
    cell(tr, r.lastHeard, 'heard');
    return tr;
  }));
  const q = quorumLine(s);
  $('quorum').textContent = q.text;
  $('quorum').className = q.warn ? 'warn' : '';
  renderTargets(s);
  renderCommands();
  renderProbes();
  $('timeline').replaceChildren(...[...s.events].reverse().map((e) => {
    const li = document.createElement('li');
    li.textContent = `${clock(e.at)}: ${e.from} → ${e.to} (epoch ${e.epoch}) — ${windowWords(e.reason)}`;
    return li;
  }));
  checkStale();
}

/** The servers the commands can be for: this one first, then the others of the domain. */
function renderTargets(s: StatusView): void {
  const select = $('target') as HTMLSelectElement;
  const names = [s.server, ...s.peers.map((p) => p.server)];
  const chosen = select.value || s.server;
  if ([...select.options].map((o) => o.value).join() !== names.join()) {
    select.replaceChildren(...names.map((n) => {
      const o = document.createElement('option');
      o.value = n;
      o.textContent = n === s.server ? `${n} (this server)` : n;
      return o;
    }));
  }
  select.value = names.includes(chosen) ? chosen : s.server;
}

function renderCommands(): void {
  if (!last) return;
  const target = ($('target') as HTMLSelectElement).value || last.server;
  const states = buttonStates(targetStatus(target, last, domain), busy);
  const bar = $('actions');
  if (!bar.children.length) {
    bar.append(...BUTTONS.map((b) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.id = b.id;
      button.textContent = b.label;
      button.addEventListener('click', () => confirmThen(b.cmd, b.label));
      return button;
    }));
  }
  const reasons: HTMLLIElement[] = [];
  for (const st of states) {
    const button = $(st.id) as HTMLButtonElement;
    button.hidden = st.hidden;
    button.disabled = st.disabled;
    if (st.reason) button.title = st.reason;
    else button.removeAttribute('title');
    if (st.reason && !st.hidden) {
      const li = document.createElement('li');
      li.textContent = `${st.label}: ${st.reason}`;
      reasons.push(li);
    }
  }
  $('reasons').replaceChildren(...reasons);
}

/** Every server's probes: full readings from each server's own status, else the verdicts its heartbeats carry. */
function renderProbes(): void {
  if (!last) return;
  const own = last;
  const lines: HTMLTableRowElement[] = [];
  for (const server of [own.server, ...own.peers.map((p) => p.server)]) {
    const full = targetStatus(server, own, domain).status;
    const probes = full ? full.health.probes.map((p) => ({ name: p.name, ok: p.ok, detail: p.detail, at: p.at }))
      : (own.peers.find((p) => p.server === server)?.probes ?? []).map((p) => ({ name: p.name, ok: p.ok, detail: '—', at: null as string | null }));
    for (const p of probes) {
      const tr = document.createElement('tr');
      tr.dataset.server = server;
      cell(tr, server, 'server', true);
      cell(tr, p.name, 'probe');
      cell(tr, p.ok ? 'ok' : 'FAILING', p.ok ? 'probe-ok' : 'probe-failing');
      cell(tr, p.detail, 'detail');
      cell(tr, p.at ? clock(p.at) : '—', 'at');
      lines.push(tr);
    }
  }
  ($('probes') as HTMLTableElement).tBodies[0]!.replaceChildren(...lines);
}

/** Asks before doing anything; says what will happen, and on which server. */
function confirmThen(cmd: Command, label: string): void {
  if (!last || !api) return;
  const target = ($('target') as HTMLSelectElement).value || last.server;
  const status = targetStatus(target, last, domain).status;
  if (!status) return;
  const dialog = $('confirm') as HTMLDialogElement;
  $('confirm-title').textContent = `${label}: ${target}?`;
  $('confirm-text').textContent = confirmText(cmd, status, last.server);
  dialog.returnValue = '';
  dialog.onclose = () => {
    if (dialog.returnValue !== 'ok' || !api) return;
    busy = true;
    renderCommands();
    showError(null);
    api.command(cmd, target === last?.server ? undefined : target).then(
      (r) => showError(r.ok ? null : `Refused: ${windowWords(r.message)}`),
      (e: Error) => showError(`The command failed: ${e.message}`),
    ).finally(() => {
      busy = false;
      void refreshDomain();
      void api?.getStatus().then(render, () => undefined);
    });
  };
  dialog.showModal();
  $('confirm-cancel').focus();
}

async function refreshDomain(): Promise<void> {
  if (!api || linkWhy !== null) return;
  try {
    domain = await api.getDomain();
  } catch {
    domain = null;
  }
  renderCommands();
  renderProbes();
}

function run(a: DuplexApi): void {
  api = a;
  a.onStatus(render);
  a.getStatus().then(render, (e: Error) => showError(e.message));
  void refreshDomain();
  setInterval(() => void refreshDomain(), DOMAIN_EVERY_MS);
  setInterval(checkStale, 500);
  ($('target') as HTMLSelectElement).addEventListener('change', () => {
    renderCommands();
  });
}

/** The token: from the address once (the demo prints one), then from this tab's storage only. */
function takeToken(): string | null {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * Whether the node takes the token: true, false (refused), or null (the node does not answer);
 * with the status it answered, which the page shows at once: the first paint does not wait for
 * the WebSocket (a headless browser's screenshot shows the servers, not "Connecting…").
 */
async function tokenWorks(token: string): Promise<{ ok: boolean | null; status: StatusView | null }> {
  try {
    const r = await fetch('/status', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    if (r.status === 401) return { ok: false, status: null };
    if (!r.ok) return { ok: null, status: null };
    return { ok: true, status: await (r.json() as Promise<StatusView>).catch(() => null) };
  } catch {
    return { ok: null, status: null };
  }
}

function askToken(why: string | null): void {
  const form = $('login') as HTMLFormElement;
  form.hidden = false;
  $('main').hidden = true;
  banner('none', 'Sign in to this server\'s node', why ?? 'enter the admin token below');
  form.onsubmit = (e) => {
    e.preventDefault();
    const token = ($('token') as HTMLInputElement).value.trim();
    void tokenWorks(token).then(({ ok, status }) => {
      if (ok === false) return askToken('that token was refused: check admin.json of this server\'s node');
      sessionStorage.setItem(TOKEN_KEY, token);
      form.hidden = true;
      $('main').hidden = false;
      connectBrowser(token, status);
    });
  };
  ($('token') as HTMLInputElement).focus();
}

function connectBrowser(token: string, first: StatusView | null): void {
  run(connectWs(token, (connected, why) => {
    linkWhy = connected ? null : why;
    if (connected && api) void api.getStatus().then(render, () => undefined);
    if (!last && !connected) banner('alarm', 'Cannot reach the Duplex node', `${why}; trying again every second`);
    checkStale();
  }));
  if (first && !last) render(first);
}

async function start(): Promise<void> {
  if (window.duplex) return run(window.duplex);
  const token = takeToken();
  if (!token) return askToken(null);
  const { ok, status } = await tokenWorks(token);
  if (ok === false) {
    sessionStorage.removeItem(TOKEN_KEY);
    return askToken('the token kept for this tab was refused (the node restarted with a new one?)');
  }
  connectBrowser(token, status);
}

void start();
