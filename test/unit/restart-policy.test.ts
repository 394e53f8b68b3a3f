import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RestartPolicy } from '../../main/runtime/restart-policy';

const cfg = { initialDelayMs: 1000, maxDelayMs: 8000, crashLoopExits: 3, windowMs: 60_000 };

describe('restart policy', () => {
  it('backs off exponentially up to the maximum', () => {
    const p = new RestartPolicy({ ...cfg, crashLoopExits: 99 });
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => p.onExit(i * 100).delayMs), [1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('calls N exits inside the window a crash loop', () => {
    const p = new RestartPolicy(cfg);
    assert.equal(p.onExit(0).crashLoop, false);
    assert.equal(p.onExit(10_000).crashLoop, false);
    const third = p.onExit(20_000);
    assert.deepEqual(third, { delayMs: 4000, recentExits: 3, crashLoop: true });
  });

  it('forgets exits older than the window, and on reset', () => {
    const p = new RestartPolicy(cfg);
    p.onExit(0);
    p.onExit(10_000);
    assert.deepEqual(p.onExit(65_000), { delayMs: 2000, recentExits: 2, crashLoop: false });
    p.reset();
    assert.deepEqual(p.onExit(65_001), { delayMs: 1000, recentExits: 1, crashLoop: false });
  });
});
