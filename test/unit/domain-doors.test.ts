/**
 * The domain file and the secret as doors (issue 21, item 4): a size limit every reader obeys
 * before it reads, a parse whose cost is bounded (alias bombs, deep nesting, huge maps), a
 * change noticed by its stat before any read, an invalid edit parsed once, and files that
 * others may change or read refused with the command that fixes them.
 */
import { after, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as load from '../../main/domain/load';
import { DomainFileError, DomainFileRefused, loadDomain, locateDomain, parseDomain } from '../../main/domain/load';
import { initDomain } from '../../main/domain/init';
import { insertBeforeEnd, withEndLine } from '../../main/domain/end';
import { loadSecret } from '../../main/domain/secret';
import { DomainFileWatch, realFiles, type FilePort } from '../../main/sync/domain-file';
import { DomainSync } from '../../main/sync/sync';
import { SyncServer, syncKey } from '../../main/sync/wire';
import { advertOf, contentHash, hashBytes, initialRevision, nextRevision } from '../../main/sync/revision';
import { Refusals } from '../../main/node/doors';
import { silentLogger, type Logger } from '../../main/util/logger';
import { DEFAULT_SYNC, DOMAIN_FILE_CEILING_BYTES } from '../../main/defaults';
import { rollbackText } from '../../main/sync/versions';
import { tempDir } from '../fixtures/temp';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh domain (duplex init) in its own folder: the file, its folder and its text. */
function domain(servers = ['a', 'b']): { dir: string; file: string; text: string } {
  const dir = tempDir('duplex-doors-');
  dirs.push(dir);
  const file = join(dir, 'plant.yaml');
  initDomain({ file, servers, interface: '127.0.0.1', sync: { port: 0 } });
  return { dir, file, text: readFileSync(file, 'utf8') };
}

/** `text` grown to about `bytes` with comment lines (before the end line, which stays last). */
function padded(text: string, bytes: number, extra = ''): string {
  const line = `# ${'x'.repeat(97)}\n`;
  return insertBeforeEnd(text, `${extra}${line.repeat(Math.ceil(bytes / line.length))}`);
}

/** Runs `f` and returns how long it took, in ms. */
function timed(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

/** The problems parseDomain finds in `text` (it must throw a DomainFileError), and how long it took. */
function refused(text: string): { problems: string[]; ms: number } {
  let err: unknown;
  const ms = timed(() => {
    try {
      parseDomain(text, 'p');
    } catch (e) {
      err = e;
    }
  });
  assert.ok(err instanceof DomainFileError, String(err));
  return { problems: err.problems, ms };
}

const BOMB = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
  ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(', ')}]`)].join('\n');

describe('the size limit of a domain file', () => {
  it('a 50 MB file is refused by its size, before it is read, naming the 1 MB limit and what to do', () => {
    const { file } = domain();
    truncateSync(file, 52_428_800); // sparse: its size says 50 MB
    for (const f of [() => loadDomain(file), () => load.readDomainText(file)]) {
      assert.throws(f, (e: unknown) => {
        assert.ok(e instanceof DomainFileRefused);
        assert.equal(e.message, `${file} is 52,428,800 bytes, above the 1 MB limit for a domain file. A domain file holds settings, not data: keep notes and long lists elsewhere and shorten it, or raise the limit with sync.maxDomainFileBytes (at most ${DOMAIN_FILE_CEILING_BYTES}, 4 MB) in the file itself`);
        return true;
      });
    }
    // The CLI's way to the state folder still finds it (the default) and says why the file is refused.
    const located = locateDomain(file);
    assert.match(located.problem!.message, /52,428,800 bytes/);
    assert.equal(located.domain.config.stateDir, 'duplex-state');
  });

  it('above 1 MB a file must raise its own limit (sync.maxDomainFileBytes, at most 4 MB); the limit it sets is kept', () => {
    const { file, text } = domain();
    writeFileSync(file, padded(text, 1.5 * 1024 ** 2));
    assert.throws(() => loadDomain(file), /is 1,5\d\d,\d\d\d bytes, above the 1 MB limit for a domain file/);
    const raised = padded(text, 1.5 * 1024 ** 2).replace('sync:\n', 'sync:\n  maxDomainFileBytes: 2000000\n');
    writeFileSync(file, raised);
    assert.equal(loadDomain(file).config.sync.maxDomainFileBytes, 2_000_000);
    // Its own limit, when the file is larger: refused, naming the line of the field.
    const low = raised.replace('maxDomainFileBytes: 2000000', 'maxDomainFileBytes: 1200000');
    const line = low.split('\n').findIndex((l) => l.includes('maxDomainFileBytes')) + 1;
    assert.throws(() => parseDomain(low, file), (e: unknown) => {
      assert.ok(e instanceof DomainFileError);
      assert.match(e.problems[0]!, new RegExp(`^line ${line}: .* bytes, above the 1\\.1 MB limit for a domain file`));
      return true;
    });
    assert.throws(() => parseDomain(text.replace('sync:\n', 'sync:\n  maxDomainFileBytes: 5000000\n'), file), /sync\.maxDomainFileBytes: sync\.maxDomainFileBytes can be at most 4194304 \(4 MB\)/);
    assert.equal(parseDomain(text, file).sync.maxDomainFileBytes, DEFAULT_SYNC.maxDomainFileBytes);
  });
});

describe('a parse whose cost is bounded', () => {
  it('an alias bomb ("billion laughs") is a DomainFileError naming the line, within a bounded time', () => {
    const { problems, ms } = refused(withEndLine(`domain: plant\n${BOMB}\n`));
    assert.deepEqual(problems, ['line 4: *b makes the aliases expand to more than 100 values (aliases of anchors that hold aliases: a "billion laughs" file?); write the values out instead']);
    assert.ok(ms < 2_000, `${ms} ms`);
  });

  it('flow collections nested deeper than 32 are refused before the parser (quadratic in that depth) sees them', () => {
    const { problems, ms } = refused(withEndLine(`domain: plant\nservers: ${'['.repeat(512 * 1024)}\n`));
    assert.deepEqual(problems, ['line 2: more than 32 [ or { inside each other; a domain file needs a few at most']);
    assert.ok(ms < 2_000, `${ms} ms (the parser alone takes seconds)`);
    // A few levels are fine, and brackets inside quotes or comments are not nesting.
    const { text: good } = domain();
    const quoted = good.replace('sync:\n', 'sync:\n  files: [project/, screens/]\n').replace('appVersion: ""', `appVersion: "${'['.repeat(50)}" # ${'{'.repeat(50)}`);
    const d = parseDomain(quoted, 'p');
    assert.deepEqual([d.sync.files, d.appVersion], [['project/', 'screens/'], '['.repeat(50)]);
  });

  it('keys twice in one map are named by line; a map of 20,000 keys costs no quadratic check', () => {
    const { text } = domain();
    const twice = text.replace('failback: manual', 'failback: manual\nfailback: auto');
    const line = twice.split('\n').findIndex((l) => l.startsWith('failback: auto')) + 1;
    assert.throws(() => parseDomain(twice, 'p'), (e: unknown) => {
      assert.ok(e instanceof DomainFileError);
      assert.deepEqual(e.problems, [`line ${line}: the key "failback" is there twice in the same section; keep one`]);
      return true;
    });
    const env = Array.from({ length: 20_000 }, (_, i) => `        V${i}: "${i}"`).join('\n');
    const big = insertBeforeEnd(text.replace('sync:\n', 'sync:\n  maxDomainFileBytes: 2000000\n'), `runtime:\n  processes:\n    - command: /bin/true\n      env:\n${env}\n`);
    let keys = 0;
    const ms = timed(() => {
      keys = Object.keys(parseDomain(big, 'p').runtime!.processes[0]!.env).length;
    });
    assert.equal(keys, 20_000);
    assert.ok(ms < 5_000, `${ms} ms`);
  });

  it('hundreds of problems are listed up to 20, the rest counted', () => {
    const { text } = domain();
    const bad = insertBeforeEnd(text, Array.from({ length: 300 }, (_, i) => `unknown${i}: 1`).join('\n') + '\n');
    assert.throws(() => parseDomain(bad, 'p'), (e: unknown) => {
      assert.ok(e instanceof DomainFileError);
      assert.equal(e.problems.length, 21);
      assert.equal(e.problems[20], '… and 280 more problems');
      return true;
    });
  });
});

describe('the command line on a domain file it must refuse', () => {
  const CLI = join(__dirname, '..', '..', 'main', 'cli.js');
  const duplex = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

  it('duplex domain check: an alias bomb, a 50 MB file and a file others may change are exit 2 with what to do, fast', () => {
    const { dir, file, text } = domain();
    const bomb = join(dir, 'bomb.yaml');
    writeFileSync(bomb, insertBeforeEnd(text, `${BOMB}\n`), { mode: 0o644 });
    const t0 = performance.now();
    const r = duplex('domain', 'check', bomb);
    assert.ok(performance.now() - t0 < 10_000);
    assert.equal(r.status, 2, r.stderr);
    const line = readFileSync(bomb, 'utf8').split('\n').findIndex((l) => l.startsWith('c: &c')) + 1;
    assert.equal(r.stderr, `duplex: ${bomb} is not a valid domain file:\n  line ${line}: *b makes the aliases expand to more than 100 values (aliases of anchors that hold aliases: a "billion laughs" file?); write the values out instead\n`);
    // duplex status gets past the file to ask the node (none runs here: exit 3, after the file's problem).
    const status = duplex('status', '--domain', bomb, '--server', 'a');
    assert.equal(status.status, 3, status.stderr);
    assert.match(status.stderr, /^warning: .*bomb\.yaml is not a valid domain file:\n {2}line \d+: \*b makes the aliases expand/);
    assert.match(status.stderr, /no Duplex node is running for server a/);

    const big = join(dir, 'big.yaml');
    writeFileSync(big, text, { mode: 0o644 });
    truncateSync(big, 52_428_800);
    // duplex run refuses it before it starts anything (a node that started would not exit: the timeout fails the test).
    for (const args of [['domain', 'check', big], ['run', '--domain', big, '--server', 'a']]) {
      const large = duplex(...args);
      assert.equal(large.status, 2, `${args.join(' ')}: ${large.stderr}`);
      assert.match(large.stderr, /^duplex: .*big\.yaml is 52,428,800 bytes, above the 1 MB limit for a domain file\. /);
    }
    if (process.platform !== 'win32') {
      chmodSync(file, 0o666);
      for (const args of [['domain', 'check', file], ['run', '--domain', file, '--server', 'a']]) {
        const open = duplex(...args);
        assert.equal(open.status, 2, `${args.join(' ')}: ${open.stderr}`);
        assert.match(open.stderr, new RegExp(`Run: chmod go-w ${file}\n$`));
      }
    }
  });
});

describe('who may change the domain file, and read the secret (Linux)', { skip: process.platform === 'win32' }, () => {
  it('a domain file that others may change is refused with the chmod that fixes it; its owner and root are trusted', () => {
    const { dir, file } = domain();
    assert.equal(statSync(file).mode & 0o777, 0o644, 'duplex init writes it 0644');
    chmodSync(file, 0o666);
    assert.throws(() => loadDomain(file), (e: unknown) => {
      assert.ok(e instanceof DomainFileRefused);
      assert.equal(e.message, `the domain file ${file} can be changed by its group and every user (mode 0666): it names the programs Duplex runs, as root when it runs as a service, so whoever can change it can run anything on this server. Run: chmod go-w ${file}`);
      return true;
    });
    chmodSync(file, 0o664);
    assert.throws(() => loadDomain(file), /can be changed by its group \(mode 0664\).* Run: chmod go-w /);
    chmodSync(file, 0o644);
    assert.equal(loadDomain(file).config.domain, 'plant');
    // The folder: anyone who may write in it may put another file in its place.
    chmodSync(dir, 0o777);
    assert.throws(() => loadDomain(file), new RegExp(`the folder ${dir} lets its group and every user replace the domain file .* Run: chmod go-w ${dir} \\(or chmod \\+t`));
    chmodSync(dir, 0o1777); // sticky, like /tmp: others cannot replace a file they do not own
    assert.equal(loadDomain(file).config.domain, 'plant');
    chmodSync(dir, 0o700);
  });

  it('a path with spaces is quoted in the command', () => {
    const { dir } = domain();
    const sub = join(dir, 'plant dir');
    mkdirSync(sub, { mode: 0o755 });
    const file = join(sub, 'plant.yaml');
    initDomain({ file, servers: ['a', 'b'] });
    chmodSync(file, 0o646);
    assert.throws(() => loadDomain(file), new RegExp(`Run: chmod go-w '${sub}/plant.yaml'$`));
  });

  it('a secret that others may read or change is refused, not warned about, with chmod 600', () => {
    const { dir } = domain();
    const secret = join(dir, 'duplex.secret');
    assert.equal(statSync(secret).mode & 0o777, 0o600);
    assert.equal(loadSecret(secret).warning, null);
    chmodSync(secret, 0o644);
    assert.throws(() => loadSecret(secret), { message: `the domain secret ${secret} can be read by other users (mode 0644): whoever reads it can command every server of the domain, whoever changes it can cut this server off. Run: chmod 600 ${secret}, then start Duplex again` });
    chmodSync(secret, 0o620);
    assert.throws(() => loadSecret(secret), /can be changed by other users \(mode 0620\).*chmod 600/);
    chmodSync(secret, 0o600);
    assert.equal(loadSecret(secret).secret.length, 32);
    // Not a secret at all: not read past 4 KB.
    truncateSync(secret, 10 * 1024 ** 2);
    assert.throws(() => loadSecret(secret), /must hold at least 16 bytes as hex digits/);
  });

  it('a kept version that others may change is not put back', () => {
    const { file, text } = domain();
    writeFileSync(`${file}.rev3`, text, { mode: 0o644 });
    assert.equal(rollbackText(file, 3).text, text);
    chmodSync(`${file}.rev3`, 0o666);
    assert.throws(() => rollbackText(file, 3), /can be changed by its group and every user .*chmod go-w .*; it is not put back/);
  });
});

/** The real file system, counting reads. */
function countingFiles(): FilePort & { reads: number } {
  const port = { reads: 0, stat: realFiles.stat, access: realFiles.access, read: (f: string, max: number) => (port.reads++, realFiles.read(f, max)) };
  return port;
}

describe('the periodic check of the domain file', () => {
  it('reads and hashes only when the stat changed, or once a rehash period has passed', () => {
    const { file, text } = domain();
    const fs = countingFiles();
    let now = 0;
    const watch = new DomainFileWatch(file, fs, 30_000, () => now);
    const first = watch.look();
    assert.equal(first.kind, 'file');
    assert.equal(fs.reads, 1);
    for (let i = 0; i < 10; i++) {
      now += 2_000;
      assert.deepEqual(watch.look(), first);
    }
    assert.equal(fs.reads, 1, 'an unchanged stat: no read');
    // An editor that replaces the file, or a chmod: read again.
    writeFileSync(`${file}.new`, text.replace('failback: manual', 'failback: auto'));
    rmSync(file);
    writeFileSync(file, readFileSync(`${file}.new`), { mode: 0o644 });
    const replaced = watch.look();
    assert.equal(fs.reads, 2);
    assert.notEqual(replaced.kind === 'file' && replaced.hash, first.kind === 'file' && first.hash);
  });

  it('a network share whose attributes do not move: the edit is found by the rehash, within its period', () => {
    const { file, text } = domain();
    const fs = countingFiles();
    // Attributes a share's client has cached (NFS keeps them up to 60 s): the times never move.
    fs.stat = (f) => ({ ...statSync(f), mtimeMs: 0, ctimeMs: 0, ino: 0, dev: 0 });
    let now = 0;
    const watch = new DomainFileWatch(file, fs, 30_000, () => now);
    const first = watch.look();
    writeFileSync(file, text.replace('failback: manual', 'failback: manuaL')); // the same size
    now = 29_000;
    assert.deepEqual(watch.look(), first, 'not seen yet');
    assert.equal(fs.reads, 1);
    now = 30_000;
    const found = watch.look();
    assert.equal(fs.reads, 2);
    assert.notEqual(found.kind === 'file' && found.hash, first.kind === 'file' && first.hash);
    now = 45_000;
    assert.deepEqual(watch.look(), found);
    assert.equal(fs.reads, 2, 'then one read a period');
  });

  it('a 50 MB file is refused at the stat, and costs one stat per check', () => {
    const { file } = domain();
    const fs = countingFiles();
    const watch = new DomainFileWatch(file, fs, 30_000, () => 0);
    truncateSync(file, 52_428_800);
    for (let i = 0; i < 5; i++) {
      const seen = watch.look();
      assert.equal(seen.kind, 'refused');
      assert.equal(seen.kind === 'refused' && seen.reason, 'too-large');
    }
    assert.equal(fs.reads, 0);
  });

  it('a domain file that others may change is refused before it is read', { skip: process.platform === 'win32' }, () => {
    const { file } = domain();
    const fs = countingFiles();
    const watch = new DomainFileWatch(file, fs, 30_000, () => 0);
    chmodSync(file, 0o646);
    const seen = watch.look();
    assert.equal(seen.kind === 'refused' && seen.reason, 'unsafe');
    assert.match(seen.kind === 'refused' ? seen.message : '', /Run: chmod go-w /);
    assert.equal(fs.reads, 0);
  });
});

/** A logger that keeps its lines. */
function keeping(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const put = (level: string) => (event: string, detail: string) => void lines.push(`${level} ${event}: ${detail}`);
  return { lines, info: put('info'), warn: put('warn'), error: put('error'), file: null };
}

describe('a node\'s sync of its domain file (DomainSync on loopback)', () => {
  /** One node's sync over a fresh domain, counting reads and parses. */
  async function started() {
    const { dir, file } = domain();
    const fs = countingFiles();
    const log = keeping();
    const d = loadDomain(file);
    const sync = await DomainSync.start({
      domain: d, server: 'a', stateFile: join(dir, 'revision.json'), stateDir: join(dir, 'duplex-state'), secret: Buffer.alloc(32, 1),
      secretFile: join(dir, 'duplex.secret'), bindAddress: '127.0.0.1', log, onChange: () => undefined, onApplied: () => undefined, files: fs,
    });
    return { file, fs, log, sync };
  }
  /** Writes `text` as the domain file with a modification time in the past (no settle wait). */
  const write = (file: string, text: string | Buffer) => {
    writeFileSync(file, text);
    utimesSync(file, new Date(Date.now() - 5_000), new Date(Date.now() - 5_000));
  };

  it('an unchanged file costs no read; an invalid edit is parsed once until it changes; the revision in force stays', async (t) => {
    const { file, fs, log, sync } = await started();
    t.after(() => sync.stop());
    const reads = fs.reads;
    for (let i = 0; i < 5; i++) await sync.checkNow();
    assert.equal(fs.reads, reads, 'nothing changed: not read');
    const parse = mock.method(load, 'parseDomain');
    write(file, readFileSync(file, 'utf8').replace('failback: manual', 'failback: sometimes'));
    for (let i = 0; i < 5; i++) await sync.checkNow();
    assert.equal(parse.mock.callCount(), 1, 'parsed once');
    assert.equal(fs.reads, reads + 1, 'read once');
    assert.equal(sync.status().state, 'error');
    assert.equal(sync.status().revision.n, 0);
    assert.equal(log.lines.filter((l) => /failback: sometimes|failback must be manual or auto/.test(l)).length, 1, log.lines.join('\n'));
    parse.mock.restore();
  });

  it('a 50 MB file copied over the domain file: one log line, no read, the revision in force stays; back to the file in force clears it', async (t) => {
    const { file, fs, log, sync } = await started();
    t.after(() => sync.stop());
    const good = readFileSync(file);
    const reads = fs.reads;
    truncateSync(file, 52_428_800);
    for (let i = 0; i < 10; i++) await sync.checkNow();
    assert.equal(fs.reads, reads);
    const lines = log.lines.filter((l) => l.startsWith('error'));
    assert.deepEqual(lines, [`error sync: ${file} is 52,428,800 bytes, above the 1 MB limit for a domain file. A domain file holds settings, not data: keep notes and long lists elsewhere and shorten it, or raise the limit with sync.maxDomainFileBytes (at most ${DOMAIN_FILE_CEILING_BYTES}, 4 MB) in the file itself. Revision 0 stays in force; no edit of the domain file is taken or sent to the other servers until then`]);
    assert.equal(sync.status().state, 'error');
    assert.equal(sync.status().revision.n, 0);
    write(file, good);
    await sync.checkNow();
    assert.equal(sync.status().state, 'in-sync');
    assert.equal(sync.status().revision.n, 0);
  });

  it('a domain file made writable by everyone: the edit is not taken, the log and the status say why; chmod go-w takes it', { skip: process.platform === 'win32' }, async (t) => {
    const { file, log, sync } = await started();
    t.after(() => sync.stop());
    write(file, readFileSync(file, 'utf8').replace('failback: manual', 'failback: auto'));
    chmodSync(file, 0o666);
    await sync.checkNow();
    await sync.checkNow();
    assert.equal(sync.status().revision.n, 0, 'not taken');
    assert.match(sync.status().message!, /can be changed by its group and every user \(mode 0666\).*Run: chmod go-w .*Revision 0 stays in force/);
    assert.equal(log.lines.filter((l) => l.includes('chmod go-w')).length, 1);
    chmodSync(file, 0o644);
    await sync.checkNow();
    assert.equal(sync.status().revision.n, 1, 'taken once safe');
    assert.equal(sync.status().state, 'in-sync');
  });
});

describe('a revision from a peer', () => {
  /** A peer's sync service that serves one revision of the domain file `bytes`, counting the requests. */
  async function peer(bytes: Buffer) {
    const content = { domain: { size: bytes.length, hash: hashBytes(bytes) }, files: [] };
    const revision = nextRevision(initialRevision('0'.repeat(64)), contentHash(content), 'b', Date.now());
    const served = { requests: 0 };
    const server = await SyncServer.start({
      host: '127.0.0.1', port: 0, domain: 'plant', key: syncKey('plant', Buffer.alloc(32, 1)), accepts: () => true, refusals: new Refusals(silentLogger), onWarning: () => undefined,
      handler: async () => {
        served.requests++;
        return { header: { ok: true, revision, content, size: bytes.length }, body: bytes };
      },
    });
    const info = { ver: 'test', app: '', rev: advertOf(revision), sync: 'in-sync' as const, port: server.port };
    return { server, served, info };
  }

  async function node() {
    const { dir, file } = domain();
    const log = keeping();
    const sync = await DomainSync.start({
      domain: loadDomain(file), server: 'a', stateFile: join(dir, 'revision.json'), stateDir: join(dir, 'duplex-state'), secret: Buffer.alloc(32, 1),
      secretFile: join(dir, 'duplex.secret'), bindAddress: '127.0.0.1', log, onChange: () => undefined, onApplied: () => undefined,
    });
    return { file, log, sync };
  }

  for (const [what, size, why] of [
    ['above the 4 MB ceiling is refused from its size, before its body is read', 6 * 1024 ** 2, /revision 1 from b is not taken here: .* is 6,291,456 bytes, above the 1 MB limit for a domain file/],
    ['of 1.5 MB that does not raise its limit is refused unparsed', 1.5 * 1024 ** 2, /revision 1 from b is not a valid domain file here \(.* is 1,572,864 bytes, above the 1 MB limit for a domain file/],
  ] as const) {
    it(`a domain file ${what}, and not fetched again`, async (t) => {
      const { file, log, sync } = await node();
      const before = readFileSync(file);
      const { server, served, info } = await peer(Buffer.alloc(size, 0x23)); // "#": all comment
      const parse = mock.method(load, 'parseDomain');
      t.after(async () => {
        parse.mock.restore();
        await sync.stop();
        await server.close();
      });
      sync.onPeer('b', '127.0.0.1', info);
      await waitUntil(() => sync.status().state === 'error');
      for (let i = 0; i < 20; i++) sync.onPeer('b', '127.0.0.1', info); // heartbeats keep announcing it
      await new Promise((r) => setTimeout(r, 2_500)); // past the retry delay
      for (let i = 0; i < 5; i++) sync.onPeer('b', '127.0.0.1', info);
      await sync.checkNow();
      assert.equal(served.requests, 1, 'fetched once');
      assert.equal(parse.mock.callCount(), 0, 'never parsed');
      assert.match(sync.status().message!, why);
      assert.equal(log.lines.filter((l) => l.startsWith('error')).length, 1, log.lines.join('\n'));
      assert.equal(sync.status().revision.n, 0);
      assert.ok(readFileSync(file).equals(before), 'the file here is untouched');
    });
  }
});

/** Polls `ok` every 20 ms for up to 10 s. */
async function waitUntil(ok: () => boolean): Promise<void> {
  for (const until = Date.now() + 10_000; !ok(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > until) throw new Error('timed out');
  }
}
