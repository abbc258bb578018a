// grove's single-page UI: "/" lists and searches models, "/{ns}/{name}" shows one (tabs: card,
// files, lineage, history via ?tab=). Navigation uses the History API; every view aborts the
// requests of the view it replaces.
import * as api from './api.js';
import { h, append, fmtInt, fmtCompact, fmtBytes, fmtParams, fmtAgo, relWord, RELATIONS, idPath, copyBox } from './util.js';
import { renderCard } from './markdown.js';
import { LineageGraph } from './lineage.js';

const main = document.getElementById('main');
const search = document.getElementById('q');
let pageAbort = new AbortController();

function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  route();
}

// Same-origin links marked data-nav stay in the app; everything else (downloads, API links)
// is a normal browser navigation.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-nav]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', route);

function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  const signal = pageAbort.signal;
  const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(location.search);
  if (parts.length === 0) return home(params, signal).catch((err) => failed(err, signal));
  if (parts.length === 2) return modelPage(`${parts[0]}/${parts[1]}`, params.get('tab') || 'card', signal).catch((err) => failed(err, signal));
  main.replaceChildren(h('div.empty', {}, h('h2', {}, 'Page not found'), h('p.muted', {}, h('a', { href: '/', 'data-nav': true }, 'Back to all models'))));
  return undefined;
}

function failed(err, signal) {
  if (signal.aborted || err.name === 'AbortError') return;
  main.replaceChildren(h('div.empty', {}, h('h2', {}, err.status === 404 ? 'Not found' : 'Something went wrong'), h('p.muted', {}, err.message)));
}

// ---- home --------------------------------------------------------------------------------

const SORTS = [['downloads', 'Most downloads'], ['lastModified', 'Recently updated'], ['likes', 'Most likes']];

// The relation a card declares to its base (the registry infers the same order: declared >
// adapter > merge > quantized > finetune).
function declaredRelation(m) {
  if (m.baseModels && m.baseModels.relation) return m.baseModels.relation;
  const card = m.cardData || {};
  const bases = [].concat(card.base_model || []).filter((b) => typeof b === 'string');
  if (!bases.length) return null;
  if (RELATIONS.includes(card.base_model_relation)) return card.base_model_relation;
  if (card.library_name === 'peft' || m.library_name === 'peft') return 'adapter';
  if (bases.length > 1) return 'merge';
  if ((m.tags || []).includes('gguf')) return 'quantized';
  return 'finetune';
}
const baseList = (m) => [].concat((m.cardData || {}).base_model || []).filter((b) => typeof b === 'string');

async function home(params, signal) {
  document.title = 'grove';
  const sort = SORTS.some(([k]) => k === params.get('sort')) ? params.get('sort') : 'downloads';
  const q = params.get('q') || '';
  if (search.value !== q && document.activeElement !== search) search.value = q;
  const list = h('div.grid', { 'data-testid': 'model-list' });
  const count = h('span.muted.small');
  const seg = h('div.seg', { role: 'group', 'aria-label': 'Sort models' }, SORTS.map(([key, label]) =>
    h('button', { type: 'button', 'aria-pressed': String(key === sort), 'data-sort': key,
      onclick: () => { const p = new URLSearchParams(location.search); p.set('sort', key); navigate(`/?${p}`, { replace: true }); } }, label)));
  main.replaceChildren(h('div.home-head', {}, h('div', {}, h('h1', {}, q ? `Models matching “${q}”` : 'Models'), count), seg), list);
  const models = await api.listModels({ search: q, sort }, signal);
  if (signal.aborted) return;
  count.textContent = `${fmtInt(models.length)}${models.length >= 60 ? '+' : ''} model${models.length === 1 ? '' : 's'}`;
  if (!models.length) {
    list.replaceWith(h('div.empty.card', {}, q ? h('p', {}, 'No model matches that search.')
      : [h('p', {}, 'No models yet.'), h('p.muted', {}, 'Push one with ', h('code', {}, 'grove push DIR ns/name'), '.')]));
    return;
  }
  append(list, models.map(modelCard));
}

function modelCard(m) {
  const [ns, name] = m.id.split('/');
  const rel = declaredRelation(m);
  const bases = baseList(m);
  return h('a.card', { href: `/${idPath(m.id)}`, 'data-nav': true, 'data-id': m.id },
    h('div.name', {}, h('span.ns', {}, `${ns}/`), name),
    h('div.meta', {},
      m.pipeline_tag && h('span', {}, m.pipeline_tag),
      h('span', { title: `${fmtInt(m.downloads)} downloads` }, `↓ ${fmtCompact(m.downloads)}`),
      h('span', { title: `${fmtInt(m.likes)} likes` }, `♥ ${fmtCompact(m.likes)}`),
      m.lastModified && h('span', { title: m.lastModified }, `updated ${fmtAgo(m.lastModified)}`)),
    h('div.badges', {},
      rel ? h(`span.badge.rel.rel-${rel}`, { 'data-relation': rel, title: `${relWord(rel, 1)} of ${bases.join(', ')}` },
        `${relWord(rel, 1)}${bases.length ? ` of ${bases.length > 1 ? `${bases.length} models` : bases[0].split('/').pop()}` : ''}`)
        : h('span.badge.rel.rel-base', { 'data-relation': 'base' }, 'base model'),
      m.library_name && h('span.badge', {}, m.library_name),
      m.private && h('span.badge', {}, 'private')));
}

let searchTimer;
search.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const p = new URLSearchParams(location.pathname === '/' ? location.search : '');
    if (search.value.trim()) p.set('q', search.value.trim()); else p.delete('q');
    const url = `/${p.toString() ? `?${p}` : ''}`;
    navigate(url, { replace: location.pathname === '/' });
  }, 150);
});
search.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { search.value = ''; search.dispatchEvent(new Event('input')); } });

// ---- model page ----------------------------------------------------------------------------

const TABS = [['card', 'Model card'], ['files', 'Files'], ['lineage', 'Lineage'], ['history', 'History']];

async function modelPage(id, tab, signal) {
  if (!TABS.some(([k]) => k === tab)) tab = 'card';
  const [info, lineage] = await Promise.all([
    api.modelInfo(id, signal),
    api.lineage(id, {}, signal).catch((err) => (err.name === 'AbortError' ? Promise.reject(err) : { error: err })),
  ]);
  if (signal.aborted) return;
  document.title = `${info.id} · grove`;
  const [ns, name] = info.id.split('/');
  const rel = declaredRelation(info);
  const params = info.safetensors && info.safetensors.total;
  const childTotal = lineage && lineage.children ? Object.values(lineage.children).reduce((s, c) => s + (c.count || 0), 0) : 0;
  const tabs = h('nav.tabs', { 'aria-label': 'Model sections' }, TABS.map(([key, label]) => h('a', {
    href: `/${idPath(info.id)}${key === 'card' ? '' : `?tab=${key}`}`, 'data-nav': true, 'data-tab': key, 'aria-current': key === tab ? 'page' : null },
  label, key === 'files' ? h('span.count', {}, fmtInt(info.siblings.length)) : null,
  key === 'lineage' && lineage && !lineage.error ? h('span.count', {}, fmtInt((lineage.ancestors || []).length + childTotal)) : null)));
  const body = h('div.tab-body');
  main.replaceChildren(
    h('div.model-head', {},
      h('div', {},
        h('h1', { 'data-testid': 'model-id' }, h('span.ns', {}, `${ns} / `), name),
        h('div.badges', {},
          rel && h(`span.badge.rel.rel-${rel}`, { 'data-relation': rel }, relWord(rel, 1)),
          info.pipeline_tag && h('span.badge', {}, info.pipeline_tag),
          info.library_name && h('span.badge', {}, info.library_name),
          info.private && h('span.badge', {}, 'private'))),
      h('div.stats', {},
        h('span', { 'data-testid': 'downloads', title: 'downloads' }, h('b', {}, fmtInt(info.downloads)), ' downloads'),
        params ? h('span', { 'data-testid': 'params', title: `${fmtInt(params)} parameters` }, h('b', {}, fmtParams(params)), ' params') : null,
        h('span', {}, h('b', {}, fmtInt(info.likes)), ' likes'),
        h('span', { title: info.lastModified }, 'updated ', fmtAgo(info.lastModified)))),
    tabs, body);
  if (tab === 'card') await cardTab(body, info, lineage, signal);
  else if (tab === 'files') await filesTab(body, info, signal);
  else if (tab === 'lineage') lineageTab(body, info, lineage);
  else await historyTab(body, info, signal);
}

function sidebar(info, lineage) {
  const origin = location.origin;
  const hasWeights = info.siblings.some((s) => s.rfilename.endsWith('.safetensors'));
  const py = `import os\nos.environ["HF_ENDPOINT"] = "${origin}"\n\nfrom huggingface_hub import snapshot_download\npath = snapshot_download("${info.id}")`;
  const bases = lineage && !lineage.error ? (lineage.ancestors || []).filter((a) => a.child === info.id) : baseList(info).map((id) => ({ id, present: true }));
  const children = lineage && !lineage.error ? lineage.children || {} : {};
  return h('aside', {}, [
    h('div.card', {}, h('h3', {}, 'Use this model'),
      copyBox(`grove pull ${info.id}`, { label: 'Copy grove pull command' }),
      h('p.muted.small', {}, 'Python (huggingface_hub) with this hub as the endpoint:'),
      copyBox(py, { pre: true, label: 'Copy Python snippet' })),
    (bases.length || Object.keys(children).length) ? h('div.card', { 'data-testid': 'tree-summary' }, h('h3', {}, 'Model tree'),
      bases.length ? h('dl.kv', {}, h('dt', {}, bases.length > 1 ? 'Bases' : 'Base'), h('dd', {}, bases.map((b, i) => [i ? ', ' : '',
        b.present === false ? h('span.muted', { title: 'not on this hub' }, b.id) : h('a', { href: `/${idPath(b.id)}`, 'data-nav': true }, b.id)]))) : null,
      h('ul.plain', {}, RELATIONS.filter((r) => children[r] && children[r].count).map((r) => h('li', {},
        h(`span.badge.rel.rel-${r}`, {}, `${fmtInt(children[r].count)} ${relWord(r, children[r].count)}`)))),
      h('p.small', {}, h('a', { href: `/${idPath(info.id)}?tab=lineage`, 'data-nav': true }, 'Open the lineage graph →'))) : null,
    hasWeights ? h('div.card', { 'data-testid': 'export' }, h('h3', {}, 'Export GGUF'),
      h('div.quant', {}, api.QUANTS.map((q) => h('a', { href: api.exportUrl(info.id, info.sha, q), download: `${info.id.split('/')[1]}-${q}.gguf`, 'data-quant': q }, q)))) : null]);
}

async function cardTab(body, info, lineage, signal) {
  const readme = info.siblings.find((s) => s.rfilename.toLowerCase() === 'readme.md');
  const content = h('article.markdown.card', { 'data-testid': 'model-card' });
  body.append(h('div.layout', {}, content, sidebar(info, lineage)));
  if (!readme) { content.append(h('p.muted', {}, 'This model has no model card (README.md).')); return; }
  const r = await fetch(api.rawUrl(info.id, info.sha, readme.rfilename), { signal });
  if (!r.ok) throw new api.ApiError(r.status, r.headers.get('X-Error-Code'), `README.md: ${r.status}`);
  const text = await r.text();
  if (signal.aborted) return;
  const files = new Set(info.siblings.map((s) => s.rfilename));
  const fragment = renderCard(text, (path) => (files.has(path) ? api.resolveUrl(info.id, info.sha, path) : null));
  content.append(fragment);
  if (!content.textContent.trim()) content.append(h('p.muted', {}, 'The model card is empty.'));
}

async function filesTab(body, info, signal) {
  const refs = await api.refs(info.id, signal).catch(() => ({ branches: [], tags: [] }));
  const revs = [...(refs.branches || []).map((b) => b.name), ...(refs.tags || []).map((t) => t.name)];
  let rev = new URLSearchParams(location.search).get('rev') || 'main';
  if (!revs.includes(rev)) revs.unshift(rev);
  const table = h('table.files', { 'data-testid': 'file-list' });
  const total = h('span.muted.small');
  const select = h('select', { 'aria-label': 'Revision' }, revs.map((r) => h('option', { value: r, selected: r === rev }, r)));
  select.addEventListener('change', () => navigate(`/${idPath(info.id)}?tab=files&rev=${encodeURIComponent(select.value)}`, { replace: true }));
  body.append(h('div.toolbar', {}, select, total), h('div.card', {}, table));
  const entries = (await api.tree(info.id, rev, signal)).filter((e) => e.type === 'file');
  if (signal.aborted) return;
  total.textContent = `${fmtInt(entries.length)} files · ${fmtBytes(entries.reduce((s, e) => s + e.size, 0))}`;
  append(table, entries.map((e) => h('tr', { 'data-path': e.path },
    h('td.path', {}, h('span.mono', {}, e.path), ' ', e.lfs ? h('span.badge.lfs', { title: `LFS, sha256 ${e.lfs.oid}` }, 'LFS') : null),
    h('td.size', { 'data-size': e.size }, fmtBytes(e.size)),
    h('td.dl', {}, h('a', { href: api.resolveUrl(info.id, rev, e.path), download: e.path.split('/').pop(), title: `Download ${e.path}`, 'aria-label': `Download ${e.path}` }, '↓', h('span.dl-word', {}, ' Download'))))));
  if (!entries.length) table.append(h('tr', {}, h('td.muted', {}, 'No files.')));
}

function lineageTab(body, info, lineage) {
  if (!lineage || lineage.error) {
    body.append(h('div.card.empty', {}, h('p', {}, 'Lineage is not available: ', lineage && lineage.error ? lineage.error.message : 'no answer')));
    return;
  }
  const children = lineage.children || {};
  const counts = h('div.counts', { 'data-testid': 'lineage-counts' },
    h('div.card', {}, h('b', {}, fmtInt((lineage.ancestors || []).length)), h('span.muted.small', {}, 'ancestors')),
    RELATIONS.map((r) => h('div.card', { 'data-relation': r }, h('b', { class: `rel-${r}` }, fmtInt(children[r] ? children[r].count : 0)),
      h('span.muted.small', {}, relWord(r, children[r] ? children[r].count : 0)))),
    h('div.card', {}, h('b', {}, fmtInt(lineage.descendants || 0)), h('span.muted.small', {}, 'descendants in all')));
  const legend = h('div.legend', {}, h('span.rel-base', {}, h('i'), 'this model / base'), RELATIONS.map((r) => h(`span.rel-${r}`, {}, h('i'), relWord(r, 1))),
    h('span.rel-export', {}, h('i'), 'GGUF export'), h('span', {}, '- - detected or inferred'));
  const conflicts = (lineage.edges_in || []).filter((e) => e.conflict);
  append(body, [counts, legend,
    conflicts.length ? h('p.conflict-note', { 'data-testid': 'conflicts' }, conflicts.map((e) => h('span', {}, `⚠ ${e.conflict}`))) : null]);
  const graph = new LineageGraph(body, {
    currentId: info.id,
    onOpen: (id) => navigate(`/${idPath(id)}?tab=lineage`),
    fetchChildren: (parent, relation, next) => api.lineageChildren(parent, relation, { next }, pageAbort.signal),
  });
  graph.setData(lineage);
}

async function historyTab(body, info, signal) {
  const [refs, log] = await Promise.all([api.refs(info.id, signal), api.commits(info.id, 'main', signal).catch(() => [])]);
  if (signal.aborted) return;
  const refList = (items, kind) => h('ul.plain', { 'data-testid': kind }, items.length ? items.map((r) => h('li', {},
    h('a', { href: `/${idPath(info.id)}?tab=files&rev=${encodeURIComponent(r.name)}`, 'data-nav': true }, r.name), ' ',
    h('span.mono.muted.small', {}, (r.targetCommit || '').slice(0, 10)))) : h('li.muted', {}, 'none'));
  body.append(h('div.layout', {},
    h('div.card', { 'data-testid': 'commits' }, h('h3', {}, 'Commits on main'), log.map((c) => h('div.commit', {},
      h('div', {}, h('div.title', {}, c.title || '(no message)'), h('div.muted.small', {}, (c.authors || []).map((a) => a.user).join(', '), ' · ', fmtAgo(c.date))),
      h('a.sha', { href: `/${idPath(info.id)}?tab=files&rev=${c.id}`, 'data-nav': true, title: c.id }, c.id.slice(0, 10))))),
    h('aside', {}, h('div.card', {}, h('h3', {}, 'Branches'), refList(refs.branches || [], 'branches')),
      h('div.card', {}, h('h3', {}, 'Tags'), refList(refs.tags || [], 'tags')))));
}

route();
