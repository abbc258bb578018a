// Small DOM and formatting helpers shared by the pages.

// h('div.card', {href, onclick}, child, ...): creates an element. Children are nodes or strings
// (strings become text, never HTML), null/false are skipped, arrays are flattened.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null && v !== false) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const integer = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
export const fmtInt = (n) => integer.format(n || 0);
export const fmtCompact = (n) => compact.format(n || 0);

export function fmtBytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  n = n || 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : n) + ' ' + units[i];
}

export function fmtParams(n) {
  if (!n) return '';
  const units = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'k']];
  for (const [d, u] of units) if (n >= d) return (n / d).toFixed(n / d < 10 ? 2 : 1).replace(/\.?0+$/, '') + u;
  return String(n);
}

export function fmtAgo(iso) {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, (Date.now() - t) / 1000);
  const steps = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day'], [12, 'month'], [Infinity, 'year']];
  let v = s;
  for (const [k, unit] of steps) {
    if (v < k) { const r = Math.floor(v); return r <= 0 && unit === 'second' ? 'just now' : `${r} ${unit}${r === 1 ? '' : 's'} ago`; }
    v /= k;
  }
  return '';
}

// Relation names as people read them, singular and plural.
export const RELATIONS = ['finetune', 'adapter', 'merge', 'quantized'];
const REL_WORDS = { finetune: ['fine-tune', 'fine-tunes'], adapter: ['adapter', 'adapters'], merge: ['merge', 'merges'],
  quantized: ['quantization', 'quantizations'] };
export function relWord(rel, count) {
  const w = REL_WORDS[rel] || [rel, rel];
  return count === 1 ? w[0] : w[1];
}

// Model ids go into URLs segment by segment ("ns/name" keeps its slash).
export const idPath = (id) => id.split('/').map(encodeURIComponent).join('/');
export const filePath = (p) => p.split('/').map(encodeURIComponent).join('/');

let toastTimer;
export function toast(text) {
  let el = document.querySelector('.toast');
  if (!el) { el = h('div.toast', { role: 'status' }); document.body.append(el); }
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 1400);
}

// A code line with a Copy button. Clipboard API where the page is a secure context (localhost),
// else the old select-and-copy path.
export function copyBox(text, { pre = false, label = 'Copy' } = {}) {
  const code = h(pre ? 'pre' : 'code', {}, text);
  const button = h('button', { type: 'button', 'aria-label': `${label}: ${text.split('\n')[0]}` }, 'Copy');
  button.addEventListener('click', async () => {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); ok = true; }
    } catch { /* fall through */ }
    if (!ok) {
      const ta = h('textarea', { readonly: true });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      ta.remove();
    }
    toast(ok ? 'Copied' : 'Select the text to copy it');
  });
  return h('div.copy', {}, code, button);
}
