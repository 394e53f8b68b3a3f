/**
 * The status window: in Electron the preload provides `window.duplex`; in a browser (the
 * demo page, browser tests) the same contract runs over the admin API's WebSocket, with the
 * token from the address (#token=…).
 */
import type { DuplexApi, StatusView, Command } from '../main/ui/contract';
import { confirmText, quorumLine, rows, summary } from './view.js';
import { connectWs } from './ws-api.js';

declare global {
  interface Window {
    duplex?: DuplexApi;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let last: StatusView | null = null;
let busy = false;

function showError(message: string | null): void {
  const box = $('error');
  box.hidden = message === null;
  box.textContent = message ?? '';
}

function render(s: StatusView): void {
  last = s;
  document.title = `Duplex · ${s.server} · ${s.role}`;
  $('title').textContent = `Duplex · domain ${s.domain} · revision ${s.sync.revision.n}`;
  $('summary').textContent = summary(s);
  const body = ($('servers') as HTMLTableElement).tBodies[0]!;
  body.replaceChildren(...rows(s).map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.server = r.server;
    if (r.self) tr.className = 'self';
    const cells: [string, string][] = [
      [r.server, 'server'], [r.address, 'address'], [r.role, `role role-${r.role.toLowerCase()}`], [r.epoch, 'epoch'], [r.health, 'health'],
      [r.runtime, 'runtime'], [r.versions, 'versions'], [r.revision, `revision${r.outOfSync ? ' out-of-sync' : ''}`], [r.lastHeard, 'heard'],
    ];
    for (const [text, cls] of cells) {
      const td = document.createElement(cls === 'server' ? 'th' : 'td');
      if (cls === 'server') td.setAttribute('scope', 'row');
      td.className = cls;
      td.textContent = cls.includes('out-of-sync') ? `${text} — out of sync` : text;
      tr.append(td);
    }
    return tr;
  }));
  const q = quorumLine(s);
  $('quorum').textContent = q.text;
  $('quorum').className = q.warn ? 'warn' : '';
  ($('activate') as HTMLButtonElement).disabled = busy || !(s.role === 'standby' || s.role === 'inactive') || s.incompatible !== null;
  ($('deactivate') as HTMLButtonElement).disabled = busy || s.role !== 'active';
  $('resume').hidden = s.runtime.held === null;
  const timeline = $('timeline');
  timeline.replaceChildren(...[...s.events].reverse().map((e) => {
    const li = document.createElement('li');
    li.textContent = `${new Date(e.at).toLocaleString()}: ${e.from} → ${e.to} (epoch ${e.epoch}) — ${e.reason}`;
    return li;
  }));
}

/** Asks before doing anything; says what will happen. */
function confirmThen(cmd: Command, title: string, api: DuplexApi): void {
  if (!last) return;
  const dialog = $('confirm') as HTMLDialogElement;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = confirmText(cmd, last);
  dialog.returnValue = '';
  dialog.onclose = () => {
    if (dialog.returnValue !== 'ok') return;
    busy = true;
    if (last) render(last);
    showError(null);
    api.command(cmd).then(
      (r) => showError(r.ok ? null : `Refused: ${r.message}`),
      (e: Error) => showError(`The command failed: ${e.message}`),
    ).finally(() => {
      busy = false;
      void api.getStatus().then(render, () => undefined);
    });
  };
  dialog.showModal();
  $('confirm-cancel').focus();
}

function start(): void {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  const api = window.duplex ?? connectWs(token, (why) => showError(why));
  api.onStatus(render);
  api.getStatus().then(render, (e: Error) => showError(e.message));
  $('activate').addEventListener('click', () => confirmThen({ kind: 'activate' }, 'Activate this server?', api));
  $('deactivate').addEventListener('click', () => confirmThen({ kind: 'deactivate' }, 'Deactivate this server?', api));
  $('resume').addEventListener('click', () => confirmThen({ kind: 'resume' }, 'Resume the runtime?', api));
}

start();
