/**
 * Keeps the domain file — and the project files it lists — identical on every server.
 *
 * A valid local change (file events, plus a periodic hash check for editors that replace
 * files and for network shares) becomes a new revision, advertised in every heartbeat.
 * A node that hears of a newer revision fetches it over the TLS-PSK sync service, checks
 * hashes and schema, writes every file atomically at its own path (temp file in the same
 * folder, fsync, rename) and keeps previous domain-file versions beside it. Concurrent
 * edits converge on one winner (revision.ts); what loses is kept as a conflict copy.
 */
import { closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { createReadStream, createWriteStream, fsync } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { DOMAIN_FILE_CEILING_BYTES, SYNC_DEBOUNCE_MS, SYNC_REQUEST_TIMEOUT_MS, SYNC_RETRY_MS, SYNC_SETTLE_MS } from '../defaults';
import { DomainFileError, DomainFileUnfinished, parseDomain, sizeRefusal, tooLargeSentence, type Domain } from '../domain/load';
import { domainPath } from '../domain/location';
import { networkSpecs } from '../domain/schema';
import type { NodeInfo, RevisionAdvert, SyncState } from '../engine/types';
import type { Logger } from '../util/logger';
import { syncDir, writeFileAtomic } from '../util/atomic';
import { isOwnFile, resolveSyncPath, TEMP_SUFFIX } from './paths';
import { advertOf, compareAdverts, contentHash, descends, filesHash, initialRevision, nextRevision, pickSource, hashBytes, HASH_ALGORITHM, digestHex, type Content, type FileEntry, type Revision } from './revision';
import { ProjectScanner, ScanError, Unsettled } from './scan';
import { SettleWatch } from './settle';
import { keptVersions, versionFile } from './versions';
import { readBody, request, SyncServer, syncKey, type Refusal, type Reply } from './wire';
import { DomainFileWatch, type FilePort } from './domain-file';
import { Refusals } from '../node/doors';
import type { SyncStatus } from './status';

export type { SyncStatus };

const fsyncAsync = promisify(fsync);

interface Stored {
  revision: Revision;
  content: Content;
}

export interface DomainSyncOptions {
  domain: Domain;
  server: string;
  /** Where this node records the revision in force. */
  stateFile: string;
  /** The state folder, never synced. */
  stateDir: string;
  secret: Buffer;
  secretFile: string;
  /** Address the sync service listens on (the redundancy network card). */
  bindAddress: string;
  log: Logger;
  /** The advert or the sync state changed (the node puts it in its heartbeats). */
  onChange: () => void;
  /** How the domain file is looked at (tests count the reads); the real file system by default. */
  files?: FilePort;
  /** Where the sync port's refusals are counted and logged: the node's, shared by its doors (one of its own by default). */
  refusals?: Refusals;
  /** A new revision is in force (a local edit or one fetched from a peer). */
  onApplied: (domain: Domain) => void;
}

interface PeerSeen {
  address: string;
  info: NodeInfo;
}

export class DomainSync {
  private rev!: Revision;
  private content!: Content;
  private domainBytes!: Buffer;
  private config: Domain['config'];
  private readonly file: string;
  private readonly root: string;
  private readonly scanner: ProjectScanner;
  private readonly key: Buffer;
  private server: SyncServer | null = null;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private busy = false;
  private checkQueued = false;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly peers = new Map<string, PeerSeen>();
  private editError: string | null = null;
  private editErrorHash: string | null = null;
  /** The last edit of the domain file found invalid: the same bytes are not parsed again. */
  private invalidEdit: { hash: string; message: string } | null = null;
  /** The last revision from a peer refused here: the same revision is not fetched again. */
  private refusedRevision: { advert: RevisionAdvert; hash: string; message: string } | null = null;
  /** Addresses the sync port lets in: the servers' addresses in the domain file… */
  private declared = new Set<string>();
  /** …and the source addresses of each server's authenticated heartbeats. */
  private readonly heard = new Map<string, Set<string>>();
  private readonly domainFile: DomainFileWatch;
  private fetchError: string | null = null;
  private progress: number | null = null;
  private conflicts: string[] = [];
  private stopped = false;
  private app = '';
  /** An edit of the domain file is taken only once the file has stopped changing for SYNC_SETTLE_MS. */
  private readonly settle = new SettleWatch(SYNC_SETTLE_MS);

  private constructor(private readonly opts: DomainSyncOptions) {
    this.file = opts.domain.file;
    this.root = dirname(this.file);
    this.config = opts.domain.config;
    this.key = syncKey(opts.domain.config.domain, opts.secret);
    this.scanner = new ProjectScanner(this.root, (rel) => this.excluded(rel));
    this.domainFile = new DomainFileWatch(this.file, opts.files);
    this.declare();
  }

  static async start(opts: DomainSyncOptions): Promise<DomainSync> {
    const s = new DomainSync(opts);
    try {
      await s.boot();
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  private async boot(): Promise<void> {
    this.cleanTemps();
    const seen = this.domainFile.look();
    if (seen.kind === 'refused') throw new Error(seen.message);
    this.domainBytes = seen.bytes;
    this.content = { domain: { size: this.domainBytes.length, hash: hashBytes(this.domainBytes) }, files: await this.scanner.scan(this.config.sync.files, this.config.sync.maxFileBytes) };
    const hash = contentHash(this.content);
    const stored = this.readStored();
    if (stored && stored.revision.hash === hash) {
      this.rev = stored.revision;
    } else if (stored) {
      this.rev = nextRevision(stored.revision, hash, this.opts.server, Date.now());
      this.opts.log.info('sync', `the domain changed while this node was stopped: revision ${this.rev.n} (${hash.slice(0, 12)})`);
    } else {
      this.rev = initialRevision(hash);
    }
    this.writeStored();
    this.computeAppVersion();
    this.server = await SyncServer.start({
      host: this.opts.bindAddress,
      port: this.config.sync.port,
      domain: this.config.domain,
      key: this.key,
      handler: (req, from) => this.serve(req, from),
      accepts: (address) => this.accepts(address),
      refusals: this.opts.refusals ?? new Refusals(this.opts.log),
      onWarning: (d) => this.opts.log.warn('sync', d),
    });
    this.watch();
    this.timer = setInterval(() => this.scheduleCheck(), this.config.sync.checkIntervalMs);
    this.opts.log.info('sync', `domain revision ${this.rev.n} (${this.rev.hash.slice(0, 12)}) in force; ${this.content.files.length} project files; sync service on ${this.opts.bindAddress}:${this.server.port}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.queue.catch(() => undefined);
    await this.server?.close();
  }

  // ------------------------------------------------------------ what others see

  advert(): RevisionAdvert {
    return advertOf(this.rev);
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  private computeAppVersion(): void {
    this.app = this.config.appVersion === 'files' ? filesHash(this.content).slice(0, 16) : this.config.appVersion;
  }

  /**
   * What this server says of itself in its heartbeats: Duplex `version`, the application
   * version (worked out when a revision comes in force, not per heartbeat), the revision, the
   * sync state with the percent of the current transfer, and the sync port.
   */
  info(version: string): NodeInfo {
    const info: NodeInfo = { ver: version, app: this.app, rev: this.advert(), sync: this.state(), port: this.port };
    if (this.progress !== null) info.pct = this.progress;
    return info;
  }

  state(): SyncState {
    if (this.editError || this.fetchError) return 'error';
    if (this.progress !== null) return 'syncing';
    if (this.conflicts.length) return 'conflict';
    return 'in-sync';
  }

  status(): SyncStatus {
    const message = this.editError ?? this.fetchError ??
      (this.conflicts.length ? `concurrent edits: the losing version is kept in ${this.conflicts.join(', ')}; review and delete it` : null);
    return {
      file: this.file,
      revision: { n: this.rev.n, t: this.rev.t, by: this.rev.by, hash: this.rev.hash },
      state: this.state(),
      message,
      progress: this.progress,
      conflicts: [...this.conflicts],
      appVersion: this.app,
      port: this.port,
    };
  }

  /** A peer's authenticated heartbeat, from `address`: its address may connect; fetch when it has a newer revision. */
  onPeer(server: string, address: string, info: NodeInfo | undefined): void {
    const heard = this.heard.get(server) ?? new Set<string>();
    this.heard.set(server, heard.add(address));
    if (!info) return;
    this.peers.set(server, { address, info });
    this.maybeFetch();
  }

  forgetPeer(server: string): void {
    this.peers.delete(server);
    this.heard.delete(server);
  }

  /** Connections and requests the sync port refused, or that failed, since the start, by reason. */
  refused(): Partial<Record<Refusal, number>> {
    return this.server?.refused() ?? {};
  }

  /** The addresses of the domain file's servers (exact addresses; a CIDR block names a network, not a server). */
  private declare(): void {
    const d = this.config;
    this.declared = new Set(d.servers.flatMap((s) => networkSpecs(d, s)).filter((a) => !a.includes('/')));
  }

  private accepts(address: string): boolean {
    if (this.declared.has(address)) return true;
    for (const addresses of this.heard.values()) if (addresses.has(address)) return true;
    return false;
  }

  /**
   * Answers peers' calls beyond sync (a relayed command, a status), set by the node: the
   * answer's fields, or null when `req.op` is not one of them.
   */
  calls: ((req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>> | null) | null = null;

  /** One call to a peer's node over the domain's authenticated channel (TLS-PSK): the fields of its answer. */
  async call(server: string, req: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const peer = this.peers.get(server);
    if (!peer) throw new Error(`${server} has not been heard on the redundancy network since this node started`);
    const res = await request({ host: peer.address, port: peer.info.port, domain: this.config.domain, key: this.key, timeoutMs }, req);
    res.body.destroy();
    return res.header;
  }

  // ------------------------------------------------------------ local changes

  private watch(): void {
    const onEvent = () => this.scheduleCheck(SYNC_DEBOUNCE_MS);
    const name = basename(this.file);
    try {
      this.watchers.push(watch(this.root, (_e, f) => {
        if (!f || f.toString() === name) onEvent();
      }));
    } catch (e) {
      this.opts.log.warn('sync', `cannot watch ${this.root} (${(e as Error).message}); changes are found by the periodic check`);
    }
    for (const entry of this.config.sync.files) {
      const p = resolve(this.root, entry);
      try {
        if (statSync(p).isDirectory()) this.watchers.push(watch(p, { recursive: true }, onEvent));
      } catch {
        // not there yet: the periodic check sees it appear
      }
    }
    for (const w of this.watchers) w.on('error', () => undefined);
  }

  private scheduleCheck(delay = 0): void {
    if (this.stopped) return;
    if (delay > 0) {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => {
        this.debounce = null;
        this.scheduleCheck();
      }, delay);
      return;
    }
    if (this.checkQueued) return;
    this.checkQueued = true;
    this.enqueue(async () => {
      this.checkQueued = false;
      await this.check();
    });
  }

  /** Looks at the files now, as a file event or the periodic check does; resolves once done (tests). */
  checkNow(): Promise<void> {
    this.enqueue(() => this.check());
    return this.queue;
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((e: Error) => this.opts.log.error('sync', `unexpected: ${e.stack ?? e.message}`));
  }

  /**
   * Looks at the files; a valid change becomes a new revision. The domain file is read and
   * hashed only when its stat changed (DomainFileWatch), and an edit found invalid is not
   * parsed again until it changes.
   */
  private async check(): Promise<void> {
    if (this.stopped) return;
    this.pruneConflicts();
    const seen = this.domainFile.look();
    if (seen.kind === 'refused') {
      // Missing for a moment while an editor replaces it, unreadable, too large or open to
      // others: the revision in force stays. Logged once per reason (a file that keeps
      // growing is one refusal), the status says the latest.
      this.setEditError(`${seen.message}. Revision ${this.rev.n} stays in force; no edit of the domain file is taken or sent to the other servers until then`, seen.reason);
      return;
    }
    let files: FileEntry[];
    try {
      files = await this.scanner.scan(this.config.sync.files, this.config.sync.maxFileBytes, SYNC_SETTLE_MS);
    } catch (e) {
      if (e instanceof Unsettled) {
        // A project file is still being written: a half-written file is never sent.
        this.scheduleCheck(SYNC_SETTLE_MS);
        return;
      }
      const msg = e instanceof ScanError ? e.message : `cannot read ${(e as NodeJS.ErrnoException).path ?? this.root}: ${(e as Error).message}`;
      this.setEditError(msg, `read:${msg}`);
      return;
    }
    const content: Content = { domain: { size: seen.size, hash: seen.hash }, files };
    const hash = contentHash(content);
    if (hash === this.rev.hash) {
      this.settle.reset();
      this.setEditError(null, null);
      return;
    }
    const domainEdited = content.domain.hash !== this.content.domain.hash;
    let config = this.config;
    if (domainEdited) {
      if (this.invalidEdit?.hash === seen.hash) {
        this.setEditError(this.invalidEdit.message, seen.hash);
        return;
      }
      // Still being written (saved in steps, copied in): look again once it has stopped changing.
      const wait = this.settle.observe({ hash: seen.hash, size: seen.size, mtimeMs: seen.mtimeMs }, Date.now(), performance.now());
      if (wait > 0) {
        this.scheduleCheck(wait);
        return;
      }
      try {
        config = parseDomain(seen.bytes.toString('utf8'), this.file);
      } catch (e) {
        const problems = e instanceof DomainFileError ? e.problems.join('; ') : (e as Error).message;
        const detail = e instanceof DomainFileUnfinished ? `is not finished: it ${problems}` : `is not valid (${problems})`;
        this.invalidEdit = { hash: seen.hash, message: `the domain file was edited but ${detail}; revision ${this.rev.n} stays in force and the edit is not sent to the other servers` };
        this.setEditError(this.invalidEdit.message, seen.hash);
        return;
      }
    }
    this.setEditError(null, null);
    this.settle.reset();
    const rev = nextRevision(this.rev, hash, this.opts.server, Date.now());
    const what = domainEdited ? 'domain file' : 'project files';
    if (domainEdited) this.keepVersion();
    this.commitRevision(rev, content, domainEdited ? seen.bytes : this.domainBytes, config);
    this.opts.log.info('sync', `local edit of the ${what}: revision ${rev.n} (${hash.slice(0, 12)}); sending it to the other servers`);
  }

  private setEditError(message: string | null, key: string | null): void {
    if (message && key !== this.editErrorHash) this.opts.log.error('sync', message);
    if (!message && this.editError) this.opts.log.info('sync', 'the domain file is back to the revision in force');
    const changed = message !== this.editError;
    this.editError = message;
    this.editErrorHash = key;
    if (changed) this.opts.onChange();
  }

  // ------------------------------------------------------------ fetching

  private maybeFetch(): void {
    if (this.busy || this.stopped || Date.now() < this.retryAt) return;
    const src = pickSource(this.advert(), [...this.peers].map(([server, p]) => ({ server, rev: p.info.rev })));
    if (!src) return;
    if (this.refusedRevision && compareAdverts(src.rev, this.refusedRevision.advert) === 0) {
      // Refused once (logged then): not fetched again, until a newer revision is announced.
      if (this.fetchError !== this.refusedRevision.message) {
        this.fetchError = this.refusedRevision.message;
        this.opts.onChange();
      }
      return;
    }
    this.busy = true;
    this.enqueue(async () => {
      try {
        await this.fetchFrom(src.server);
        this.fetchError = null;
      } catch (e) {
        this.fetchError = (e as Error).message;
        this.opts.log.error('sync', `${this.fetchError}; trying again in ${SYNC_RETRY_MS / 1000} s`);
        this.retryAt = Date.now() + SYNC_RETRY_MS;
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.maybeFetch(), SYNC_RETRY_MS);
      } finally {
        this.progress = null;
        this.busy = false;
        this.opts.onChange();
      }
      this.maybeFetch(); // something newer may have been announced meanwhile
    });
  }

  private async fetchFrom(server: string): Promise<void> {
    const peer = this.peers.get(server)!;
    const where = { host: peer.address, port: peer.info.port, domain: this.config.domain, key: this.key, timeoutMs: SYNC_REQUEST_TIMEOUT_MS };
    const t0 = Date.now();
    const res = await request(where, { op: 'revision' });
    const revision = res.header.revision as Revision;
    const content = res.header.content as Content;
    const size = Number(res.header.size);
    if (!revision || !content || !Number.isSafeInteger(size) || size < 0) {
      res.body.destroy();
      throw new Error(`revision from ${server} is not complete (another Duplex version?); not applied`);
    }
    if (size > DOMAIN_FILE_CEILING_BYTES) {
      // Refused before a byte of it is read, and not fetched again.
      this.refusedRevision = { advert: advertOf(revision), hash: revision.hash, message: `revision ${revision.n} from ${server} is not taken here: ${tooLargeSentence(this.file, size)}` };
    }
    if (this.refusedRevision?.hash === revision.hash) {
      res.body.destroy();
      throw new Error(this.refusedRevision.message);
    }
    const bytes = await readBody(res, size);
    if (hashBytes(bytes) !== content.domain?.hash || contentHash(content) !== revision.hash) {
      throw new Error(`revision from ${server} does not match its hashes; not applied`);
    }
    if (compareAdverts(advertOf(revision), this.advert()) <= 0) return; // we have it or a newer one by now
    let config: Domain['config'];
    try {
      const tooLarge = sizeRefusal(this.file, bytes.length, bytes);
      if (tooLarge) throw new DomainFileError(this.file, [tooLarge]);
      config = parseDomain(bytes.toString('utf8'), this.file);
    } catch (e) {
      const problems = e instanceof DomainFileError ? e.problems.join('; ') : (e as Error).message;
      this.refusedRevision = { advert: advertOf(revision), hash: revision.hash, message: `revision ${revision.n} from ${server} is not a valid domain file here (${problems}); is Duplex the same version on every server?` };
      throw new Error(this.refusedRevision.message);
    }
    // Paths from the network: every one must stay inside the configured sync entries.
    for (const f of content.files) {
      const r = resolveSyncPath(this.root, config.sync.files, f.path);
      if (!r.ok || this.excluded(f.path)) {
        const why = r.ok ? 'it is the domain file, the secret or the state folder' : r.reason;
        this.opts.log.warn('security', `refused revision ${revision.n} from ${server}: path "${f.path}" refused (${why})`);
        throw new Error(`revision ${revision.n} from ${server} names a path that is refused: ${f.path} (${why})`);
      }
      if (f.size > config.sync.maxFileBytes) throw new Error(`revision ${revision.n} from ${server} has ${f.path} of ${f.size} bytes, above sync.maxFileBytes here`);
    }
    const conflict = !descends(revision, this.rev.hash);
    const local = await this.scanner.scan(Array.from(new Set([...this.config.sync.files, ...config.sync.files])), Number.MAX_SAFE_INTEGER);
    const localBy = new Map(local.map((f) => [f.path, f]));
    const inForce = new Map(this.content.files.map((f) => [f.path, f]));
    const wanted = content.files.filter((f) => localBy.get(f.path)?.hash !== f.hash);
    const total = wanted.reduce((n, f) => n + f.size, 0);
    let done = 0;
    this.progress = 0;
    this.opts.onChange();
    this.opts.log.info('sync', `fetching revision ${revision.n} from ${server}${conflict ? ' (concurrent with ours: it wins)' : ''}: domain file${wanted.length ? ` and ${wanted.length} project files, ${total} bytes` : ''}`);

    const temps = new Map<string, string>();
    try {
      for (const f of wanted) {
        const target = resolve(this.root, ...f.path.split('/'));
        const tmp = await this.fetchFile(where, server, f, target, (n) => {
          done += n;
          const pct = total ? Math.floor((100 * done) / total) : 100;
          if (pct !== this.progress) {
            this.progress = pct;
            this.opts.onChange();
          }
        });
        temps.set(f.path, tmp);
      }
      // Everything is here and verified: put it in place.
      const stamp = conflictStamp();
      const copies: string[] = [];
      const keepLocal = (rel: string, diskHash: string | undefined) => {
        // Local content that is not in the revision in force (a concurrent or unsaved edit) is never lost.
        if (diskHash === undefined) return false;
        return conflict || inForce.get(rel)?.hash !== diskHash;
      };
      for (const f of wanted) {
        const target = resolve(this.root, ...f.path.split('/'));
        const disk = localBy.get(f.path);
        if (disk && keepLocal(f.path, disk.hash)) copies.push(this.conflictCopy(target, stamp));
        renameSync(temps.get(f.path)!, target);
        temps.delete(f.path);
        syncDir(dirname(target));
        this.scanner.remember(f.path, statSync(target), f.hash);
      }
      const keep = new Set(content.files.map((f) => f.path));
      for (const f of local) {
        if (keep.has(f.path)) continue;
        const target = resolve(this.root, ...f.path.split('/'));
        if (keepLocal(f.path, f.hash)) copies.push(this.conflictCopy(target, stamp));
        else rmSync(target, { force: true });
      }
      // The file here (read only if its stat changed): one that cannot be taken counts as an edit of its own.
      const disk = this.domainFile.look();
      const diskHash = disk.kind === 'file' ? disk.hash : existsSync(this.file) ? 'not taken here' : undefined;
      if (content.domain.hash !== this.content.domain.hash) this.keepVersion();
      if (diskHash !== content.domain.hash) {
        if (diskHash !== undefined && (conflict || diskHash !== this.content.domain.hash)) copies.push(this.conflictCopy(this.file, stamp, true));
        writeFileAtomic(this.file, bytes, { keepPrevious: false });
      }
      if (copies.length) {
        this.conflicts.push(...copies);
        this.opts.log.warn('sync', `conflict: revision ${revision.n} from ${server} replaced content edited here; the local version is kept as ${copies.join(', ')}`);
      }
      this.commitRevision(revision, content, bytes, config);
      this.opts.log.info('sync', `revision ${revision.n} from ${server} in force (${wanted.length} project files, ${total} bytes, ${Date.now() - t0} ms)`);
    } finally {
      for (const tmp of temps.values()) rmSync(tmp, { force: true });
    }
  }

  /** Streams one file into a temp file beside its target; resolves with the temp path once hash and size check out. */
  private async fetchFile(where: Parameters<typeof request>[0], server: string, f: FileEntry, target: string, onBytes: (n: number) => void): Promise<string> {
    mkdirSync(dirname(target), { recursive: true });
    const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
    let fd: number;
    try {
      fd = openSync(tmp, 'w', 0o644);
    } catch (e) {
      throw new Error(`cannot write ${dirname(target)} (${(e as Error).message}); give Duplex write access to it. The old files are unchanged`);
    }
    try {
      const res = await request(where, { op: 'file', path: f.path, hash: f.hash });
      const h = createHash(HASH_ALGORITHM);
      let got = 0;
      // Hashing here, writing in the thread pool: decryption, hashing and disk writes overlap.
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          h.update(chunk);
          got += chunk.length;
          onBytes(chunk.length);
          done(null, chunk);
        },
      });
      try {
        await pipeline(res.body, tap, createWriteStream('', { fd, autoClose: false, highWaterMark: 1 << 20 }));
      } catch (e) {
        throw new Error(`${f.path} from ${server}: ${(e as Error).message}`);
      }
      if (got !== f.size || digestHex(h) !== f.hash) throw new Error(`${f.path} from ${server} arrived damaged (${got} of ${f.size} bytes, or a wrong hash)`);
      await fsyncAsync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    return tmp;
  }

  private commitRevision(rev: Revision, content: Content, bytes: Buffer, config: Domain['config']): void {
    this.rev = rev;
    this.content = content;
    this.domainBytes = bytes;
    const filesChanged = JSON.stringify(config.sync.files) !== JSON.stringify(this.config.sync.files);
    this.config = config;
    this.declare();
    this.computeAppVersion();
    this.writeStored();
    if (filesChanged) {
      for (const w of this.watchers) w.close();
      this.watchers = [];
      this.watch();
    }
    this.opts.onApplied({ file: this.file, config });
    this.opts.onChange();
  }

  // ------------------------------------------------------------ serving

  private async serve(req: unknown, from: string): Promise<Reply> {
    const r = req as { op?: unknown; path?: unknown; hash?: unknown } | null;
    if (r?.op === 'revision') {
      return { header: { ok: true, revision: this.rev, content: this.content, size: this.domainBytes.length }, body: this.domainBytes };
    }
    if (r?.op === 'file') {
      const p = resolveSyncPath(this.root, this.config.sync.files, r.path);
      const entry = this.content.files.find((f) => f.path === r.path && f.hash === r.hash);
      if (!p.ok || !entry || this.excluded(String(r.path))) {
        const why = !p.ok ? p.reason : 'not a file of the revision in force';
        this.opts.log.warn('security', `refused a sync request from ${from} for ${JSON.stringify(r.path)}: ${why}`);
        return { header: { ok: false, error: `refused: ${why}` } };
      }
      if (lstatSync(p.path).size !== entry.size) return { header: { ok: false, error: `${entry.path} changed here meanwhile; try again` } };
      return { header: { ok: true, size: entry.size }, body: createReadStream(p.path, { highWaterMark: 1 << 20 }) };
    }
    const answer = r && typeof r.op === 'string' ? this.calls?.(r as Record<string, unknown>, from) : null;
    if (answer) return { header: { ...(await answer), ok: true } };
    this.opts.log.warn('security', `refused a malformed sync request from ${from}`);
    return { header: { ok: false, error: 'unknown request' } };
  }

  // ------------------------------------------------------------ files

  /** Never synced: the domain file itself (it travels on its own), the secret, the state folder. */
  private excluded(rel: string): boolean {
    const abs = resolve(this.root, ...rel.split('/'));
    const stateDir = resolve(this.opts.stateDir);
    return abs === this.file || abs === resolve(this.opts.secretFile) || abs === stateDir || abs.startsWith(`${stateDir}${sep}`);
  }

  private conflictCopy(target: string, stamp: string, copy = false): string {
    const name = `${target}.conflict-${this.opts.server}-${stamp}`;
    if (copy) copyFileSync(target, name);
    else renameSync(target, name);
    return relative(this.root, name).split(sep).join('/');
  }

  private pruneConflicts(): void {
    const before = this.conflicts.length;
    this.conflicts = this.conflicts.filter((c) => existsSync(resolve(this.root, c)));
    if (before && !this.conflicts.length) {
      this.opts.log.info('sync', 'conflict copies reviewed and removed; in sync');
      this.opts.onChange();
    }
  }

  /**
   * Keeps the domain file of the revision in force as `<file>.rev<N>` before another takes
   * its place (from memory: the file on disk may already be the new one). `duplex domain
   * rollback <N>` puts it back. A version that cannot be written is logged, not fatal.
   */
  private keepVersion(): void {
    if (this.config.sync.keepVersions <= 0) return;
    const kept = versionFile(this.file, this.rev.n);
    try {
      writeFileAtomic(kept, this.domainBytes, { keepPrevious: false });
      this.pruneVersions();
    } catch (e) {
      this.opts.log.warn('sync', `cannot keep the previous domain file as ${kept} (${(e as Error).message}); duplex domain rollback ${this.rev.n} will not be possible`);
    }
  }

  private pruneVersions(): void {
    const versions = keptVersions(this.file).reverse();
    for (const n of versions.slice(this.config.sync.keepVersions)) rmSync(versionFile(this.file, n), { force: true });
  }

  /** Temp files left by a transfer that was cut (the node was killed): removed at start. */
  private cleanTemps(): void {
    const sweep = (dir: string, deep: boolean) => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const name of names) {
        const p = join(dir, name);
        if (name.endsWith(TEMP_SUFFIX)) {
          rmSync(p, { force: true });
          this.opts.log.info('sync', `removed ${p}, left by a transfer that was cut`);
        } else if (deep && !isOwnFile(name)) {
          try {
            if (lstatSync(p).isDirectory()) sweep(p, true);
          } catch {
            // gone meanwhile
          }
        }
      }
    };
    sweep(this.root, false);
    for (const e of this.config.sync.files) {
      sweep(domainPath(this.opts.domain, e), true);
      sweep(dirname(domainPath(this.opts.domain, e)), false);
    }
  }

  private readStored(): Stored | null {
    try {
      const s = JSON.parse(readFileSync(this.opts.stateFile, 'utf8')) as Stored;
      if (Number.isSafeInteger(s.revision?.n) && typeof s.revision.hash === 'string' && Array.isArray(s.revision.lineage)) return s;
    } catch {
      // none yet, or damaged: start from the file as it is
    }
    return null;
  }

  private writeStored(): void {
    writeFileAtomic(this.opts.stateFile, JSON.stringify({ revision: this.rev, content: this.content }), { keepPrevious: false });
  }
}

/** `20261122T031500`: when a conflict copy was made (UTC). */
function conflictStamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
}
