/**
 * The tray application (Electron main process). It hosts the same node as `duplex run` —
 * there is no second engine — and maps the pure tray model (ui/tray-model.ts) onto a Tray
 * and its menu. Everything it shows comes from the node's status view; everything it does
 * goes through the same contract as the status window.
 *
 *   Duplex.exe --domain C:\Plant\plant.yaml --server SRV1
 *
 * Without Electron (servers without a desktop), `duplex run` is the same node headless.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeImage, Notification, shell, Tray, type IpcMainInvokeEvent, type MenuItemConstructorOptions } from 'electron';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { locateDomain } from '../domain/load';
import { NoNodeError } from '../node/admin-client';
import { DuplexNode } from '../node/node';
import { nodePaths } from '../node/paths';
import { serviceInstalled } from '../service/service';
import { CALLS, dispatch, Ipc, type CallChannel, type CallMethod, type DuplexApi, type StatusView } from '../ui/contract';
import { attachToNode, type RemoteApi } from '../ui/remote-api';
import { notices, trayModel, type MenuItem, type TrayModel } from '../ui/tray-model';

const ROOT = join(__dirname, '..', '..', '..');
const PAGE = join(ROOT, 'out', 'web', 'renderer', 'index.html');
const PRELOAD = join(ROOT, 'out', 'preload', 'preload.js');
const ICONS = join(ROOT, 'resources', 'tray');

interface Settings {
  startAtLogon: boolean;
}

const settingsFile = () => join(app.getPath('userData'), 'settings.json');

const readJson = (file: string): Record<string, unknown> => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
};

/** The user's choices; until there are any, the installer's answer (install-options.json), else on. */
function readSettings(): Settings {
  const installed = readJson(join(process.resourcesPath ?? ROOT, 'install-options.json'));
  const user = readJson(settingsFile());
  const pick = (v: unknown) => (typeof v === 'boolean' ? v : undefined);
  return { startAtLogon: pick(user.startAtLogon) ?? pick(installed.startAtLogon) ?? true };
}

/** Which domain file and server: the command line, else DUPLEX_DOMAIN/DUPLEX_SERVER, else %ProgramData%\Duplex\tray.json. */
function where(): { domain?: string; server?: string } {
  const { values } = parseArgs({ args: process.argv.slice(app.isPackaged ? 1 : 2), options: { domain: { type: 'string' }, server: { type: 'string' } }, strict: false });
  const file = readJson(join(process.env.ProgramData ?? '/etc', 'Duplex', 'tray.json'));
  const str = (...v: unknown[]) => v.find((x): x is string => typeof x === 'string' && x.length > 0);
  return { domain: str(values.domain, process.env.DUPLEX_DOMAIN, file.domain), server: str(values.server, process.env.DUPLEX_SERVER, file.server) };
}

/**
 * The service's node, when there is one: attached at once when it answers; while the service is
 * installed but its node is not up yet (the tray started first at logon), waited for.
 */
async function attachWhenServed(endpointFile: string): Promise<RemoteApi | null> {
  const installed = serviceInstalled();
  const deadline = Date.now() + SERVICE_WAIT_MS;
  for (;;) {
    try {
      return await attachToNode(endpointFile);
    } catch (e) {
      if (!installed) {
        if (e instanceof NoNodeError) return null;
        throw e;
      }
      if (Date.now() > deadline) {
        throw new Error(`the Duplex service is installed but its node does not answer (${(e as Error).message}). Check the service (duplex service status) and its log; ` +
          'a tray that is not run as administrator cannot read the node\'s admin.json: start Duplex as administrator');
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** How long a tray started at logon waits for the service's node (it starts at boot, usually first). */
const SERVICE_WAIT_MS = 120_000;

async function main(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  const { domain: domainFile, server } = where();
  await app.whenReady();
  if (!domainFile || !server) {
    dialog.showErrorBox('Duplex', 'Duplex needs the domain file and this server\'s name. Write them to %ProgramData%\\Duplex\\tray.json as {"domain": "C:\\\\Plant\\\\plant.yaml", "server": "SRV1"}, or start Duplex with --domain <file> --server <name>.');
    app.exit(2);
    return;
  }
  // With the Duplex service installed (or a node for this server already running) the tray is
  // only a client of that node; otherwise it hosts the node itself, as `duplex run` would.
  let node: DuplexNode | null = null;
  let api: DuplexApi;
  let logsDir: string;
  let service: RemoteApi | null = null;
  try {
    const paths = nodePaths(locateDomain(domainFile).domain, server);
    logsDir = paths.logs;
    service = await attachWhenServed(paths.admin);
    if (service) {
      api = service;
    } else {
      const created = (node = DuplexNode.create({ domainFile, server, onFatal: (m) => {
        dialog.showErrorBox('Duplex stopped', m);
        app.exit(1);
      } }));
      // An uncaught error while it starts is logged and stops it too (below, once it runs).
      const starting = (e: unknown) => void created.crash(e).finally(() => app.exit(1));
      process.on('uncaughtException', starting);
      await created.boot();
      process.off('uncaughtException', starting);
      api = created.uiApi();
    }
  } catch (e) {
    dialog.showErrorBox('Duplex cannot start', (e as Error).message);
    app.exit(1);
    return;
  }
  const hosted = node;
  // A stop request or a bug must not leave the runtime to its own devices: stop cleanly, so the
  // runtime is stopped and the guardian releases the Active term to the Standby. The service's
  // node is not the tray's to stop.
  let ending = false;
  const stopNow = (why: string) => {
    if (ending) return;
    ending = true;
    if (!hosted) return app.exit(0);
    hosted.log.info('stop', why);
    const late = setTimeout(() => app.exit(1), hosted.stopBoundMs);
    void hosted.stop().then(() => {
      clearTimeout(late);
      app.exit(0);
    });
  };
  process.on('uncaughtException', (e) => {
    if (ending) return;
    ending = true;
    if (!hosted) return app.exit(1);
    void hosted.crash(e).finally(() => app.exit(1));
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => stopNow(`received ${signal}; stopping`));
  const settings = readSettings();
  const applyLoginItem = () => app.setLoginItemSettings({ openAtLogin: settings.startAtLogon, args: ['--domain', domainFile, '--server', server] });
  applyLoginItem();

  const tray = new Tray(nativeImage.createFromPath(join(ICONS, 'inactive.png')));
  let window: BrowserWindow | null = null;
  let model: TrayModel | null = null;
  let last: StatusView | null = null;

  const notify = (title: string, body: string) => {
    if (Notification.isSupported()) new Notification({ title, body }).show();
  };

  const openWindow = () => {
    if (window) return window.focus();
    window = new BrowserWindow({
      width: 1200, height: 700, minWidth: 900, minHeight: 500, title: `Duplex · ${server}`,
      icon: join(ROOT, 'resources', 'icon.png'),
      webPreferences: { preload: PRELOAD, contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true },
    });
    window.webContents.on('will-navigate', (e) => e.preventDefault());
    window.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
    window.on('closed', () => {
      window = null;
    });
    void window.loadFile(PAGE);
  };

  /** Only our own page may call in. */
  const fromOurPage = (e: IpcMainInvokeEvent) => window !== null && e.sender === window.webContents && (e.senderFrame?.url ?? '').startsWith('file://');
  for (const method of Object.keys(CALLS) as CallMethod[]) {
    const channel: CallChannel<typeof method> = `${Ipc.Prefix}${method}`;
    ipcMain.handle(channel, (e, ...args: unknown[]) => {
      if (!fromOurPage(e)) throw new Error('refused: not the status window');
      return dispatch(api, method, args);
    });
  }

  const run = async (what: Parameters<typeof api.command>[0]) => {
    const r = await api.command(what);
    if (!r.ok) notify('Duplex: refused', r.message);
  };

  const quit = async () => {
    if (model?.quitWarning) {
      const standby = last?.peers.find((p) => p.role === 'standby');
      const buttons = standby ? ['Switch over, then quit', 'Quit anyway', 'Cancel'] : ['Quit anyway', 'Cancel'];
      const { response } = await dialog.showMessageBox({ type: 'warning', title: 'Quit Duplex', message: model.quitWarning, buttons, defaultId: buttons.length - 1, cancelId: buttons.length - 1 });
      const choice = buttons[response];
      if (choice === 'Cancel') return;
      if (choice === 'Switch over, then quit') {
        const r = await api.command({ kind: 'deactivate' });
        if (!r.ok) {
          dialog.showErrorBox('Switchover refused', `${r.message}\nDuplex keeps running.`);
          return;
        }
      }
    }
    service?.close();
    await hosted?.stop();
    app.exit(0);
  };

  const actions: Record<string, () => void> = {
    activate: () => void run({ kind: 'activate' }),
    deactivate: () => void run({ kind: 'deactivate' }),
    maintenance: () => void run({ kind: 'maintenance', on: last?.role !== 'maintenance' }),
    resume: () => void run({ kind: 'resume' }),
    'open-status': openWindow,
    'open-logs': () => void shell.openPath(logsDir),
    'login-item': () => {
      settings.startAtLogon = !settings.startAtLogon;
      writeFileSync(settingsFile(), JSON.stringify(settings));
      applyLoginItem();
    },
    quit: () => void quit(),
  };
  const toElectron = (items: MenuItem[]): MenuItemConstructorOptions[] => items.map((m) => {
    if (m.type === 'separator') return { type: 'separator' };
    if (m.type === 'submenu') return { label: m.label, submenu: toElectron(m.submenu) };
    return { type: m.type, label: m.label, enabled: m.enabled, ...(m.type === 'checkbox' ? { checked: m.checked } : {}), click: actions[m.id] };
  });

  const update = (s: StatusView) => {
    const next = trayModel(s, { startAtLogon: settings.startAtLogon, service: service !== null });
    for (const n of notices(last, s)) notify(n.title, n.body);
    if (!model || model.icon !== next.icon) tray.setImage(nativeImage.createFromPath(join(ICONS, `${next.icon}.png`)));
    if (!model || JSON.stringify(model.menu) !== JSON.stringify(next.menu)) tray.setContextMenu(Menu.buildFromTemplate(toElectron(next.menu)));
    tray.setToolTip(next.tooltip);
    model = next;
    last = s;
    window?.webContents.send(Ipc.Status, s);
  };
  api.onStatus(update);
  service?.onLink((up, why) => {
    if (!up) {
      model = null; // the next status redraws everything
      tray.setImage(nativeImage.createFromPath(join(ICONS, 'trouble.png')));
      tray.setToolTip(`Duplex · ${server} · ${why}`);
    }
    notify(up ? 'Duplex: connected to the service' : 'Duplex: the service does not answer', why);
  });
  tray.on('double-click', openWindow);
  app.on('second-instance', openWindow);
  app.on('window-all-closed', () => undefined); // the tray keeps running
}

void main();
