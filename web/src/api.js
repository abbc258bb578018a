// The public JSON API, as any client uses it. Every call takes an AbortSignal so a page that is
// left (or a search that is retyped) stops its requests.
import { idPath } from './util.js';

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function getJson(url, signal) {
  const r = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { const body = await r.json(); if (body && body.error) message = body.error; } catch { /* not JSON */ }
    throw new ApiError(r.status, r.headers.get('X-Error-Code'), message);
  }
  return r.json();
}

export function listModels({ search, sort, limit = 60 }, signal) {
  const q = new URLSearchParams({ full: 'true', limit: String(limit), sort: sort || 'downloads', direction: '-1' });
  if (search) q.set('search', search);
  return getJson(`/api/models?${q}`, signal);
}

export const modelInfo = (id, signal) => getJson(`/api/models/${idPath(id)}?blobs=true`, signal);
export const refs = (id, signal) => getJson(`/api/models/${idPath(id)}/refs`, signal);
export const commits = (id, rev, signal) =>
  getJson(`/api/models/${idPath(id)}/commits/${encodeURIComponent(rev)}?limit=50`, signal);
export const tree = (id, rev, signal) =>
  getJson(`/api/models/${idPath(id)}/tree/${encodeURIComponent(rev)}?recursive=true&limit=1000`, signal);

export const lineage = (id, { depth = 2, limit = 12 } = {}, signal) =>
  getJson(`/api/grove/lineage/${idPath(id)}?depth=${depth}&limit=${limit}`, signal);

// One page of a parent's children of one relation; `next` is the absolute URL the server gave.
export function lineageChildren(id, relation, { limit = 50, next } = {}, signal) {
  // Same origin whatever --public-url says: keep the path and query of `next` only.
  const url = next ? (() => { const u = new URL(next, location.origin); return u.pathname + u.search; })()
    : `/api/grove/lineage/${idPath(id)}/children?relation=${encodeURIComponent(relation)}&limit=${limit}`;
  return getJson(url, signal);
}

export const resolveUrl = (id, rev, path) => `/${idPath(id)}/resolve/${encodeURIComponent(rev)}/${path.split('/').map(encodeURIComponent).join('/')}`;
export const rawUrl = (id, rev, path) => `/${idPath(id)}/raw/${encodeURIComponent(rev)}/${path.split('/').map(encodeURIComponent).join('/')}`;
export const exportUrl = (id, rev, quant) => `/api/grove/export/${idPath(id)}/${encodeURIComponent(rev)}/${quant}.gguf`;
export const QUANTS = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K_M', 'Q5_K_M', 'Q6_K'];
