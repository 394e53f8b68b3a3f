/**
 * Commands: what each would do now (its verdict, also shown as the status window's buttons)
 * and carrying it out. One set of rules for both.
 */
import type { Core } from './core';
import { HEALTHY } from './roles';
import { claimantAhead, mayServe, minorityText, persist, promote, startHandover } from './transitions';
import type { Command, CommandName, Request } from './types';

/** The name a command's request goes by in logs and `done` effects. */
export function commandName(cmd: Command): CommandName {
  return cmd.kind === 'maintenance' ? (cmd.on ? 'maintenance-on' : 'maintenance-off') : cmd.kind;
}

type Verdict = { refused: string } | { already: string } | null;

/**
 * What would become of `cmd` now, without changing anything: refused (and why), already done
 * (and what is so), or null when it can be carried out.
 */
function verdict(c: Core, cmd: Command, now: number): Verdict {
  const { local, servers, peers } = c;
  const self = c.cfg.self;
  const refused = (message: string) => ({ refused: message });
  const unkept = local.storeFault === null ? null : `${self} cannot write its state (${local.storeFault}); it would not survive a restart. Free space on that disk (or fix its permissions) first`;
  switch (cmd.kind) {
    case 'clear':
      if (c.loops.any && unkept) return refused(unkept);
      return c.loops.any ? null : { already: `${self} has no runtime crash loops counted; nothing to clear` };
    case 'activate': {
      if (local.role === 'active') return { already: `${self} is already Active (epoch ${local.epoch})` };
      if (local.role === 'maintenance') return refused(`${self} is in Maintenance; leave it first (duplex maintenance off)`);
      if (servers.removed) return refused(`${self} is not in the domain file any more`);
      if (!mayServe(c)) return refused(`${self} is declared "${servers.decl(self).kind}" in the domain file; only the main and backup servers can be Active`);
      if (!local.linkUp) return refused(`${self} has lost its own network interface; it must not take over`);
      if (c.loops.banned) return refused(c.loops.banText(self));
      if (c.compat.incompatible) return refused(`${self} is incompatible with the Active: ${c.compat.incompatible}`);
      if (unkept) return refused(unkept);
      if (local.role === 'starting') {
        const left = Math.max(0, c.cfg.timings.discoveryMs - (now - local.roleSince));
        return refused(`${self} is still discovering its peers; try again in ${Math.ceil(left)} ms`);
      }
      if (local.role === 'activating' || local.role === 'deactivating' || c.switchover.grantedTo) return refused('a switchover is already in progress; wait for it to finish');
      const active = peers.liveActive(now);
      const minority = minorityText(c, now);
      if (!active && minority) return refused(minority);
      if (!active && claimantAhead(c, now)) return refused('another server is starting or taking over right now; try again in a second');
      if (active?.hb.role === 'deactivating') return refused(`${active.name} is already handing over; wait for it to finish`);
      return null;
    }
    case 'report-failure':
    case 'deactivate': {
      if (local.role !== 'active') {
        return refused(cmd.kind === 'deactivate' ? `only the Active can be deactivated; ${self} is ${local.role}` : `only the Active hands over on a reported failure; ${self} is ${local.role}`);
      }
      const standby = peers.liveStandby(now);
      if (!standby) return refused(`no Standby is ready to take over from ${self}; the runtime keeps running here`);
      if (cmd.kind === 'report-failure' && standby.hb.health !== undefined && standby.hb.health < HEALTHY) {
        return refused(`the Standby ${standby.name} is not healthy (health ${standby.hb.health}); the runtime keeps running here`);
      }
      return null;
    }
    case 'maintenance':
      if (cmd.on) {
        if (local.role === 'maintenance') return { already: `${self} is already in Maintenance` };
        if (unkept) return refused(unkept);
        if (local.role === 'deactivating' || c.switchover.grantedTo) return refused('a switchover is in progress; try again when it has finished');
        if (local.role === 'active' && !peers.liveStandby(now) && !cmd.force) {
          return refused(`${self} is the Active and no Standby can take over: Maintenance would stop the plant's runtime. Use --force to do it anyway`);
        }
        return null;
      }
      if (local.role !== 'maintenance') return { already: `${self} is not in Maintenance` };
      if (servers.decl(self).maintenance) return refused(`maintenance is set for ${self} in the domain file; change it there`);
      if (unkept) return refused(unkept);
      return null;
  }
}

/** Why each command would be refused now, or that it is already done; null where it can be carried out (the status window's buttons). */
export function commandVerdicts(c: Core, now: number): Record<CommandName, string | null> {
  const say = (cmd: Command) => {
    const v = verdict(c, cmd, now);
    return v === null ? null : 'refused' in v ? v.refused : v.already;
  };
  return {
    activate: say({ kind: 'activate' }),
    deactivate: say({ kind: 'deactivate' }),
    'maintenance-on': say({ kind: 'maintenance', on: true }),
    'maintenance-off': say({ kind: 'maintenance', on: false }),
    'report-failure': say({ kind: 'report-failure', reason: '-' }),
    clear: say({ kind: 'clear' }),
  };
}

/** Carries `cmd` out if its verdict allows: accepted (a `done` effect follows, maybe in this output) or refused, with a message for people. */
export function apply(c: Core, cmd: Command, now: number, request: Request): { accepted: boolean; message: string } {
  const { local, peers, switchover, out } = c;
  const self = c.cfg.self;
  const v = verdict(c, cmd, now);
  if (v && 'refused' in v) return { accepted: false, message: v.refused };
  if (v) {
    out.done(request, true, v.already);
    return { accepted: true, message: v.already };
  }
  if (cmd.kind === 'clear') {
    // `duplex clear`: forget the crash loops and lift the ban.
    const message = c.loops.clear(self) ?? `${self} has no runtime crash loops counted; nothing to clear`;
    out.changed();
    persist(c);
    out.done(request, true, message);
    return { accepted: true, message };
  }
  if (cmd.kind === 'activate') {
    const active = peers.liveActive(now);
    // Just after a freeze nobody has been heard yet: that is not the same as nobody being there.
    if (!active && !c.servers.quorum && !peers.live(now).some((p) => p.hb.eligible) && !c.awareness.justResumed(now)) {
      promote(c, now, 'manual', 'activated by command; no Active was reachable');
      out.done(request, true, `${self} is Active (epoch ${local.epoch})`);
      return { accepted: true, message: `no Active reachable: ${self} took over at once` };
    }
    if (!active) {
      // Others could be taking over at this very moment (a Standby's timer): announce first,
      // so they defer to us, and take over after two heartbeat intervals unless an Active shows up.
      switchover.ask(now, null, 'switchover', request);
      local.setRole(now, 'activating', 'activated by command; no Active reachable: announcing, then taking over');
      return { accepted: true, message: `no Active reachable: ${self} takes over` };
    }
    switchover.ask(now, active.name, 'switchover', request);
    local.setRole(now, 'activating', `asked ${active.name} to hand over`);
    return { accepted: true, message: `asked ${active.name} to hand over to ${self}` };
  }
  if (cmd.kind === 'report-failure' || cmd.kind === 'deactivate') {
    const standby = peers.liveStandby(now)!;
    local.noFailback = true;
    const why = cmd.kind === 'deactivate' ? 'deactivated by command' : `the application reported a failure (${cmd.reason})`;
    startHandover(c, now, standby.name, 'follower', request, `${why}: handing over to ${standby.name}`);
    return { accepted: true, message: `handing over to ${standby.name}` };
  }
  return maintenance(c, cmd.on, now, request);
}

function maintenance(c: Core, on: boolean, now: number, request: Request): { accepted: boolean; message: string } {
  const { local, out } = c;
  const self = c.cfg.self;
  if (on) {
    if (local.role === 'active') {
      const standby = c.peers.liveStandby(now);
      local.noFailback = true;
      if (standby) {
        startHandover(c, now, standby.name, 'maintenance', request, `maintenance requested: handing over to ${standby.name} first`);
        return { accepted: true, message: `handing over to ${standby.name}, then entering Maintenance` };
      }
      startHandover(c, now, null, 'maintenance', request, 'maintenance forced with no Standby: stopping the runtime');
      return { accepted: true, message: 'stopping the runtime, then entering Maintenance (forced, no Standby)' };
    }
    c.switchover.endActivation({ ok: false, message: 'activation cancelled: maintenance was switched on' });
    local.maintenance = true;
    persist(c);
    local.setRole(now, 'maintenance', 'maintenance switched on by command');
    out.done(request, true, `${self} is in Maintenance`);
    return { accepted: true, message: `${self} is in Maintenance` };
  }
  local.maintenance = false;
  persist(c);
  local.listeningSince = now;
  local.setRole(now, 'starting', 'maintenance switched off: listening for peers');
  out.done(request, true, `${self} left Maintenance`);
  return { accepted: true, message: `${self} left Maintenance` };
}
