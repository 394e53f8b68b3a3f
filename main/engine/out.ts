/**
 * The output being assembled during one input: the effects in the order they happened, and
 * whether anything peers must hear of changed (a heartbeat goes out at once then).
 */
import type { Effect, Request } from './types';

export class Out {
  effects: Effect[] = [];
  /** Something in the next heartbeat changed: it is sent with this output. */
  dirty = true;

  /** A new input begins. */
  begin(): void {
    this.effects = [];
  }

  push(effect: Effect): void {
    this.effects.push(effect);
  }

  changed(): void {
    this.dirty = true;
  }

  /** Command request `request` has finished (or failed). */
  done(request: Request, ok: boolean, message: string): void {
    this.effects.push({ kind: 'done', id: request.id, command: request.name, ok, message });
  }
}
