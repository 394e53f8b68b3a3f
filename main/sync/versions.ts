/**
 * Previous versions of the domain file, kept beside it as `<file>.rev<N>` (the domain file
 * as it was in revision N; the last `sync.keepVersions`), and `duplex domain rollback`,
 * which puts one back: it is written as the domain file, so the node takes it like any
 * edit — as a new, higher revision — and sends it to every server.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { checkEnd, withEndLine } from '../domain/end';
import { DOMAIN_FILE_CEILING_BYTES } from '../defaults';
import { domainFileProblem } from '../domain/access';
import { DomainFileError, parseDomain, sizeRefusal, tooLargeSentence } from '../domain/load';
import { readCapped } from '../util/capped';

/** The kept version of revision `n` of a domain file. */
export const versionFile = (file: string, n: number): string => `${resolve(file)}.rev${n}`;

/** The revision numbers whose domain file is kept beside `file`, lowest first. */
export function keptVersions(file: string): number[] {
  const abs = resolve(file);
  const prefix = `${basename(abs)}.rev`;
  let names: string[];
  try {
    names = readdirSync(dirname(abs));
  } catch {
    return [];
  }
  return names
    .filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)))
    .map((f) => Number(f.slice(prefix.length)))
    .filter((n) => Number.isSafeInteger(n))
    .sort((a, b) => a - b);
}

export class RollbackError extends Error {}

/**
 * The text to write as the domain file to roll back to revision `n`. Refused, with what to
 * do, when no version `n` is kept (the kept ones are listed) or when it is not a valid
 * domain file for this Duplex. A kept version without the end line (kept before Duplex had
 * it; Duplex wrote it whole) gets the line.
 */
export function rollbackText(file: string, n: number): { text: string; from: string; addedEndLine: boolean } {
  const from = versionFile(file, n);
  let read: ReturnType<typeof readCapped>;
  try {
    read = readCapped(from, DOMAIN_FILE_CEILING_BYTES);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new RollbackError(`cannot read ${from}: ${(e as Error).message}`);
    const kept = keptVersions(file);
    throw new RollbackError(kept.length
      ? `revision ${n} is not kept beside ${resolve(file)}; the kept revisions are ${kept.join(', ')} (duplex domain rollback <one of them>)`
      : `no previous revisions are kept beside ${resolve(file)} (a revision is kept as ${basename(from).replace(/\d+$/, '<N>')} when another replaces it, the last sync.keepVersions of them)`);
  }
  // Put back, it would be the domain file: the same limits and the same check of who may change it.
  const refusal = 'bytes' in read ? sizeRefusal(from, read.bytes.length, read.bytes) : tooLargeSentence(from, read.tooLarge);
  if (refusal) throw new RollbackError(`${refusal}; it is not put back`);
  const unsafe = domainFileProblem(from, read.stats);
  if (unsafe) throw new RollbackError(`${unsafe}; it is not put back: check that it holds what you expect first`);
  const text = (read as { bytes: Buffer }).bytes.toString('utf8');
  const end = checkEnd(text);
  const addedEndLine = !end.ok && end.kind === 'unfinished' && end.anywhere === null;
  const finished = addedEndLine ? withEndLine(text) : text;
  try {
    parseDomain(finished, from);
  } catch (e) {
    if (!(e instanceof DomainFileError)) throw e;
    throw new RollbackError(`revision ${n} (${from}) is not a valid domain file for this Duplex, so it is not put back:\n  ${e.problems.join('\n  ')}\nCopy what you need from it into the domain file by hand`);
  }
  return { text: finished, from, addedEndLine };
}

