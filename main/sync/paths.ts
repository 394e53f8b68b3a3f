/**
 * Paths that come from the network: a relative path is accepted only when it stays inside
 * one of the configured sync entries (a file, or a folder and what is below it). Pure.
 */
import { isAbsolute, posix, relative, resolve, sep } from 'node:path';

/** Names Duplex writes beside synced files; never synced themselves. */
export const TEMP_SUFFIX = '.duplex-tmp';
export const isOwnFile = (name: string): boolean => name.endsWith(TEMP_SUFFIX) || /\.conflict-[A-Za-z0-9._-]+-\d{8}T\d{6}$/.test(name) || /\.rev\d+$/.test(name);

/**
 * Checks a relative path from a peer against the configured entries (relative to `root`)
 * and returns the absolute local path, or a reason to refuse it.
 */
export function resolveSyncPath(root: string, entries: string[], rel: unknown): { ok: true; path: string } | { ok: false; reason: string } {
  if (typeof rel !== 'string' || rel.length === 0 || rel.length > 1024) return { ok: false, reason: 'not a path' };
  if (rel.includes('\0') || rel.includes('\\') || rel.startsWith('/') || /^[A-Za-z]:/.test(rel) || isAbsolute(rel)) {
    return { ok: false, reason: `"${rel}" is not a relative path with "/" separators` };
  }
  const parts = rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return { ok: false, reason: `"${rel}" has empty, "." or ".." parts` };
  if (isOwnFile(parts[parts.length - 1]!)) return { ok: false, reason: `"${rel}" is a Duplex temporary, conflict or version file` };
  const normal = posix.normalize(rel);
  const inside = entries.some((e) => {
    const entry = posix.normalize(e.replace(/\\/g, '/')).replace(/\/+$/, '');
    return entry === '.' || normal === entry || normal.startsWith(`${entry}/`);
  });
  if (!inside) return { ok: false, reason: `"${rel}" is outside the synced files and folders (${entries.join(', ')})` };
  const abs = resolve(root, ...parts);
  const back = relative(resolve(root), abs);
  if (back.startsWith('..') || isAbsolute(back) || back.split(sep).includes('..')) return { ok: false, reason: `"${rel}" leaves the domain folder` };
  return { ok: true, path: abs };
}
