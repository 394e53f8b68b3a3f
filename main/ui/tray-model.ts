/**
 * What the tray shows for a node's state: icon, tooltip, menu and the warning on Quit.
 * Pure: the Electron adapter only maps this model onto Tray and Menu.
 */
import type { StatusView } from './contract';
import { headline } from './words';

export type TrayIcon = 'active' | 'standby' | 'inactive' | 'maintenance' | 'trouble';

export type MenuAction = 'activate' | 'deactivate' | 'maintenance' | 'resume' | 'open-status' | 'open-logs' | 'login-item' | 'quit';

export type MenuItem =
  | { type: 'normal'; id: MenuAction; label: string; enabled: boolean }
  | { type: 'checkbox'; id: MenuAction; label: string; enabled: boolean; checked: boolean }
  | { type: 'submenu'; label: string; submenu: MenuItem[] }
  | { type: 'separator' };

export interface TrayModel {
  icon: TrayIcon;
  /** What is wrong when the icon is `trouble`, null otherwise. */
  trouble: string | null;
  tooltip: string;
  menu: MenuItem[];
  /** Shown before quitting: quitting the Active stops the node and its runtime. */
  quitWarning: string | null;
}

const cap = (r: string) => r.charAt(0).toUpperCase() + r.slice(1);

/** What is wrong when the icon shows trouble: the status window's headline (ui/words.ts), null when the plant is protected. */
export function troubleOf(s: StatusView): string | null {
  const h = headline(s);
  return h.level === 'ok' ? null : `${h.title} (${h.detail})`;
}

/**
 * `service`: the node runs as the Duplex service and the tray is only its client; quitting the
 * tray then stops nothing.
 */
export function trayModel(s: StatusView, opts: { startAtLogon: boolean; service?: boolean }): TrayModel {
  const trouble = troubleOf(s);
  const base: TrayIcon = s.role === 'active' || s.role === 'deactivating' ? 'active'
    : s.role === 'standby' || s.role === 'activating' ? 'standby'
      : s.role === 'maintenance' ? 'maintenance' : 'inactive';
  const icon: TrayIcon = trouble && base !== 'maintenance' ? 'trouble' : base;
  const switching = s.role === 'activating' || s.role === 'deactivating' || s.pending !== null;
  const menu: MenuItem[] = [
    {
      type: 'submenu',
      label: 'Server',
      submenu: [
        { type: 'normal', id: 'activate', label: 'Activate', enabled: (s.role === 'standby' || s.role === 'inactive') && !s.incompatible && !switching },
        { type: 'normal', id: 'deactivate', label: 'Deactivate', enabled: s.role === 'active' && !switching },
      ],
    },
    { type: 'checkbox', id: 'maintenance', label: 'Maintenance', enabled: !switching, checked: s.role === 'maintenance' },
    ...(s.runtime.held ? [{ type: 'normal', id: 'resume', label: 'Resume runtime', enabled: true } as MenuItem] : []),
    { type: 'separator' },
    { type: 'normal', id: 'open-status', label: 'Open status window', enabled: true },
    { type: 'normal', id: 'open-logs', label: 'Open log folder', enabled: true },
    { type: 'checkbox', id: 'login-item', label: 'Start at logon', enabled: true, checked: opts.startAtLogon },
    { type: 'separator' },
    { type: 'normal', id: 'quit', label: opts.service ? 'Quit tray (the Duplex service keeps running)' : 'Quit', enabled: true },
  ];
  const standby = s.peers.find((p) => p.role === 'standby');
  const quitWarning = !opts.service && (s.role === 'active' || s.role === 'deactivating')
    ? `${s.server} is the Active server. Quitting stops Duplex and the plant runtime here.${standby ? ` Switch over to ${standby.server} first?` : ' No Standby is ready to take over.'}`
    : null;
  return {
    icon,
    trouble,
    tooltip: `Duplex · ${s.server} · ${cap(s.role)}${s.vip?.held ? ` · holds ${s.vip.address}` : ''} · ${s.domain}${opts.service ? ' (service)' : ''}`,
    menu,
    quitWarning,
  };
}

export interface Notice {
  title: string;
  body: string;
}

/** What to tell the technician when the state changes: a role change, or a fault appearing. */
export function notices(prev: StatusView | null, next: StatusView): Notice[] {
  const out: Notice[] = [];
  if (prev && prev.role !== next.role && !['starting', 'activating', 'deactivating'].includes(next.role)) {
    out.push({ title: `Duplex: ${next.server} is ${cap(next.role)}`, body: next.reason });
  }
  const was = prev ? troubleOf(prev) : null;
  const now = troubleOf(next);
  if (now && now !== was) out.push({ title: `Duplex: attention on ${next.server}`, body: now });
  return out;
}
