// The lineage graph: the bounded neighbourhood /api/grove/lineage returns, laid out as a DAG
// with dagre and drawn in SVG, with pan (drag), zoom (wheel, pinch, buttons) and keyboard.
//
// Staying responsive with thousands of children: the server collapses a parent's children of
// one relation into a group node beyond `limit`; clicking a group pages /children (50 at a
// time) into a block of tiles under that group. Dagre lays out only the neighbourhood (groups
// count as one box however many tiles they hold), tiles sit on a regular grid, a block draws
// one edge from its parent instead of one per child, and only the tiles inside the visible
// area are in the DOM (computed from the grid, so panning over thousands costs what is on
// screen); zoomed far out, tiles are drawn as plain boxes without text.
import dagre from '@dagrejs/dagre';
import { svg, h, fmtCompact, fmtInt, relWord, RELATIONS } from './util.js';

const NODE_W = 214, NODE_H = 52, EXPORT_W = 124, EXPORT_H = 34;
const TILE_W = 196, TILE_H = 40, TILE_GAP = 8, BLOCK_PAD = 10, BLOCK_HEAD = 40;
// A block grows wider as it fills (4 columns up to 10), so a thousand tiles stay a block, not a column.
const blockCols = (n) => Math.min(n, Math.max(4, Math.min(10, Math.ceil(Math.sqrt(n / 2)))));
const PAGE = 50;
const LOD_TEXT = 0.4;  // below this zoom, tile labels are unreadable anyway: boxes only

const shortName = (id, max) => (id.length <= max ? id : id.slice(0, max - 1) + '…');
const colourClass = (rel) => (RELATIONS.includes(rel) || rel === 'export' ? rel : 'base');

export class LineageGraph {
  // options: currentId, onOpen(id) to open a model, fetchChildren(parent, relation, next) ->
  // {items, next}, onChange() after the graph grew.
  constructor(container, options) {
    this.opts = options;
    this.nodes = new Map();
    this.edges = [];
    this.view = { x: 0, y: 0, k: 1 };
    this.pointers = new Map();
    this.wrap = h('div.graph-wrap', { 'data-testid': 'lineage-graph' });
    this.svgEl = svg('svg', { role: 'img', 'aria-label': `Lineage graph of ${options.currentId}` });
    this.svgEl.append(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M 0 0 L 10 5 L 0 10 z' }))));
    this.viewport = svg('g', { class: 'viewport' });
    this.svgEl.append(this.viewport);
    this.status = h('div.graph-status');
    const button = (label, title, fn) => h('button', { type: 'button', title, 'aria-label': title, onclick: fn }, label);
    this.wrap.append(this.svgEl, this.status, h('div.graph-controls', {},
      button('+', 'Zoom in', () => this.zoomBy(1.25)), button('−', 'Zoom out', () => this.zoomBy(0.8)), button('⤢', 'Fit to view', () => this.fit())));
    container.append(this.wrap);
    this.bindPointer();
  }

  // Loads the API's answer. Group nodes and export nodes get an edge from their parent if the
  // answer left it implicit.
  setData(data) {
    this.nodes.clear();
    this.edges = [];
    for (const n of data.graph.nodes) this.nodes.set(n.id, { ...n, kind: n.kind || 'model', tiles: [], next: null, loaded: false });
    if (!this.nodes.has(data.id)) this.nodes.set(data.id, { ...data.node, id: data.id, kind: 'model', present: true, tiles: [] });
    const seen = new Set();
    for (const e of data.graph.edges) {
      if (!this.nodes.has(e.parent) || !this.nodes.has(e.child)) continue;
      const key = `${e.parent}\u0000${e.child}\u0000${e.relation}\u0000${e.source}`;
      if (seen.has(key)) continue;
      seen.add(key);
      this.edges.push({ ...e });
    }
    const hasEdgeTo = (id) => this.edges.some((e) => e.child === id);
    for (const n of this.nodes.values()) {
      if (n.kind === 'group' && n.parent && this.nodes.has(n.parent) && !hasEdgeTo(n.id))
        this.edges.push({ parent: n.parent, child: n.id, relation: n.relation, source: 'group' });
      if (n.kind === 'export' && !hasEdgeTo(n.id)) {
        const owner = n.id.replace(/^export:/, '').replace(/:[^:]*$/, '');
        if (this.nodes.has(owner)) this.edges.push({ parent: owner, child: n.id, relation: 'quantized', source: 'export' });
      }
    }
    this.truncated = !!data.graph.truncated;
    this.ancestors = new Set((data.ancestors || []).map((a) => a.id));
    this.layout();
    // A small family gets a frame its size rather than a screenful of empty dots.
    const b = this.bounds();
    const need = Math.ceil(b.y1 - b.y0) + 120;
    this.wrap.style.height = Number.isFinite(need) && need < this.wrap.getBoundingClientRect().height ? `${Math.max(288, need)}px` : '';
    this.render();
    this.initialView();
  }

  // Dagre over the neighbourhood; a group with tiles is one box sized to hold them.
  layout() {
    const g = new dagre.graphlib.Graph({ multigraph: false });
    g.setGraph({ rankdir: 'TB', nodesep: 26, ranksep: 64, marginx: 20, marginy: 20 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of this.nodes.values()) {
      const size = this.sizeOf(n);
      n.w = size.w; n.h = size.h;
      g.setNode(n.id, { width: n.w, height: n.h });
    }
    for (const e of this.edges) if (e.parent !== e.child) g.setEdge(e.parent, e.child);
    dagre.layout(g);
    for (const n of this.nodes.values()) {
      const p = g.node(n.id);
      n.x = p.x; n.y = p.y;
    }
    for (const n of this.nodes.values()) if (n.kind === 'group' && n.tiles.length) this.placeTiles(n);
  }

  sizeOf(n) {
    if (n.kind === 'export') return { w: EXPORT_W, h: EXPORT_H };
    if (n.kind === 'group' && n.tiles.length) {
      const cols = blockCols(n.tiles.length);
      const rows = Math.ceil(n.tiles.length / cols);
      return { w: Math.max(NODE_W, cols * (TILE_W + TILE_GAP) - TILE_GAP + 2 * BLOCK_PAD),
        h: BLOCK_HEAD + rows * (TILE_H + TILE_GAP) - TILE_GAP + BLOCK_PAD };
    }
    return { w: NODE_W, h: NODE_H };
  }

  placeTiles(group) {
    const cols = blockCols(group.tiles.length);
    const left = group.x - group.w / 2 + BLOCK_PAD, top = group.y - group.h / 2 + BLOCK_HEAD;
    group.tiles.forEach((t, i) => {
      t.x = left + (i % cols) * (TILE_W + TILE_GAP) + TILE_W / 2;
      t.y = top + Math.floor(i / cols) * (TILE_H + TILE_GAP) + TILE_H / 2;
    });
  }

  // Children of a group already drawn as nodes of their own are not tiled again.
  drawnChildren(parent, relation) {
    const ids = new Set();
    for (const e of this.edges) if (e.parent === parent && e.relation === relation && this.nodes.get(e.child)?.kind === 'model') ids.add(e.child);
    return ids;
  }

  async expand(group) {
    if (group.busy || (group.loaded && !group.next)) return;
    group.busy = true;
    this.render();
    try {
      const page = await this.opts.fetchChildren(group.parent, group.relation, group.next);
      const drawn = this.drawnChildren(group.parent, group.relation);
      const tiled = new Set(group.tiles.map((t) => t.id));
      for (const item of page.items || []) {
        if (drawn.has(item.id) || tiled.has(item.id)) continue;
        group.tiles.push({ ...item, relation: item.relation || group.relation, parent: group.parent });
      }
      group.next = page.next || null;
      group.loaded = true;
    } catch (err) {
      group.error = err.message;
    } finally {
      group.busy = false;
    }
    // Keep the group's head where it was on screen: the layout moves things, the view follows.
    const before = { x: group.x - group.w / 2, y: group.y - group.h / 2 };
    this.layout();
    this.view.x += (before.x - (group.x - group.w / 2)) * this.view.k;
    this.view.y += (before.y - (group.y - group.h / 2)) * this.view.k;
    this.render();
    this.opts.onChange?.();
  }

  render() {
    const vp = this.viewport;
    vp.replaceChildren();
    const edgeLayer = svg('g', { class: 'edges' }), nodeLayer = svg('g', { class: 'nodes' });
    this.tileLayer = svg('g', { class: 'tiles' });
    this.tileEls = new Map();
    this.tileLod = undefined;
    vp.append(edgeLayer, nodeLayer, this.tileLayer);
    for (const e of this.edges) {
      const a = this.nodes.get(e.parent), b = this.nodes.get(e.child);
      if (!a || !b) continue;
      const x1 = a.x, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y - b.h / 2, my = (y1 + y2) / 2;
      const cls = ['edge', `stroke-${colourClass(e.relation)}`, `src-${e.source || 'declared'}`];
      if (e.conflict) cls.push('conflict');
      const title = `${e.parent} → ${e.child}: ${e.relation} (${e.source || 'declared'}${e.similarity != null ? `, similarity ${e.similarity}` : ''})${e.conflict ? ` — ${e.conflict}` : ''}`;
      edgeLayer.append(svg('path', { class: cls.join(' '), d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2 - 2}`, 'marker-end': 'url(#arrow)',
        'data-parent': e.parent, 'data-child': e.child, 'data-relation': e.relation, 'data-source': e.source || '' }, svg('title', {}, title)));
    }
    for (const n of this.nodes.values()) nodeLayer.append(this.renderNode(n));
    this.applyView();
    const models = [...this.nodes.values()].filter((n) => n.kind === 'model').length;
    const tiles = [...this.nodes.values()].reduce((s, n) => s + (n.tiles ? n.tiles.length : 0), 0);
    this.status.textContent = `${fmtInt(models + tiles)} models · ${fmtInt(this.edges.length)} edges${this.truncated ? ' · truncated' : ''} · drag to pan, scroll or pinch to zoom`;
  }

  renderNode(n) {
    const current = n.id === this.opts.currentId;
    const x = n.x - n.w / 2, y = n.y - n.h / 2;
    if (n.kind === 'export') {
      const g = svg('g', { class: 'node export', transform: `translate(${x},${y})`, 'data-id': n.id, 'data-kind': 'export', tabindex: 0, role: 'link',
        'aria-label': `Download GGUF ${n.quant}` },
      svg('rect', { class: 'box', width: n.w, height: n.h, rx: 8 }),
      svg('rect', { class: 'bar fill-export', width: 4, height: n.h - 12, x: 6, y: 6, rx: 2 }),
      svg('text', { class: 'title', x: 18, y: 21 }, `GGUF ${n.quant || ''}`),
      svg('title', {}, `Export ${n.quant} as GGUF`));
      this.activate(g, () => this.download(n.url));
      return g;
    }
    if (n.kind === 'group') return this.renderGroup(n, x, y);
    const rel = current ? 'base' : n.relation;
    const missing = n.present === false;
    const cls = ['node', 'model', current && 'current', missing && 'missing'].filter(Boolean).join(' ');
    // Without a relation of its own a node is this model, one of its bases, or the other parent
    // of a merge below it.
    const role = n.relation ? relWord(n.relation, 1) : current ? 'this model' : this.ancestors.has(n.id) ? 'base' : 'merge parent';
    const sub = missing ? 'not on this hub' : `${role} · ↓ ${fmtCompact(n.downloads)}`;
    const g = svg('g', { class: cls, transform: `translate(${x},${y})`, 'data-id': n.id, 'data-kind': 'model',
      'data-relation': n.relation || '', tabindex: missing ? null : 0, role: missing ? null : 'link', 'aria-label': n.id, 'aria-current': current ? 'page' : null },
    svg('rect', { class: 'box', width: n.w, height: n.h, rx: 9 }),
    svg('rect', { class: `bar fill-${missing ? 'missing' : colourClass(rel)}`, width: 4, height: n.h - 14, x: 7, y: 7, rx: 2 }),
    svg('text', { class: 'title', x: 20, y: 22 }, shortName(n.id, current ? 24 : 27)),
    svg('text', { class: 'sub', x: 20, y: 39 }, sub),
    svg('title', {}, n.id));
    if (!missing && !current) this.activate(g, () => this.opts.onOpen(n.id));
    return g;
  }

  renderGroup(n, x, y) {
    const shown = n.tiles.length, total = n.count || 0;
    const g = svg('g', { class: `node group${n.busy ? ' loading' : ''}`, transform: `translate(${x},${y})`, 'data-id': n.id, 'data-kind': 'group',
      'data-relation': n.relation, 'data-count': total, 'data-shown': shown, 'data-parent': n.parent });
    g.append(svg('rect', { class: 'box', width: n.w, height: n.h, rx: 10 }));
    g.append(svg('rect', { class: `bar fill-${colourClass(n.relation)}`, width: 4, height: Math.min(n.h, NODE_H) - 14, x: 7, y: 7, rx: 2 }));
    const head = svg('g', { class: 'group-head', tabindex: 0, role: 'button',
      'aria-label': shown ? `Show more ${relWord(n.relation, 2)}` : `Expand ${fmtInt(total)} ${relWord(n.relation, total)}` });
    head.append(svg('rect', { width: n.w, height: shown ? BLOCK_HEAD - 4 : n.h, fill: 'transparent' }));
    head.append(svg('text', { class: 'title', x: 20, y: 22 }, `${fmtInt(total)} ${relWord(n.relation, total)}`));
    const hint = n.error ? `error: ${n.error}` : n.busy ? 'loading…' : !shown ? 'click to expand'
      : n.next ? `showing ${fmtInt(shown)} · click for ${PAGE} more` : `showing ${fmtInt(shown)}`;
    head.append(svg('text', { class: 'sub', x: 20, y: shown ? 36 : 39 }, hint));
    if (!n.loaded || n.next) this.activate(head, () => this.expand(n));
    g.append(head);
    return g;
  }

  // Puts the tiles that intersect the visible area (plus a margin) into the DOM, and takes out
  // the others. Runs once per animation frame at most, after any change of view.
  updateTiles() {
    this.tileFrame = 0;
    if (!this.tileLayer) return;
    const rect = this.svgEl.getBoundingClientRect();
    const { x, y, k } = this.view;
    const margin = 120 / k;
    const vx0 = -x / k - margin, vy0 = -y / k - margin, vx1 = (rect.width - x) / k + margin, vy1 = (rect.height - y) / k + margin;
    const lod = k < LOD_TEXT;
    const want = new Set();
    for (const n of this.nodes.values()) {
      if (n.kind !== 'group' || !n.tiles.length) continue;
      const cols = blockCols(n.tiles.length), rows = Math.ceil(n.tiles.length / cols);
      const left = n.x - n.w / 2 + BLOCK_PAD, top = n.y - n.h / 2 + BLOCK_HEAD;
      const c0 = Math.max(0, Math.floor((vx0 - left) / (TILE_W + TILE_GAP))), c1 = Math.min(cols - 1, Math.floor((vx1 - left) / (TILE_W + TILE_GAP)));
      const r0 = Math.max(0, Math.floor((vy0 - top) / (TILE_H + TILE_GAP))), r1 = Math.min(rows - 1, Math.floor((vy1 - top) / (TILE_H + TILE_GAP)));
      for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) {
        const i = r * cols + c;
        if (i < n.tiles.length) want.add(n.tiles[i]);
      }
    }
    if (lod !== this.tileLod) { this.tileLayer.replaceChildren(); this.tileEls.clear(); this.tileLod = lod; }
    for (const [t, el] of this.tileEls) if (!want.has(t)) { el.remove(); this.tileEls.delete(t); }
    const fresh = document.createDocumentFragment();
    for (const t of want) if (!this.tileEls.has(t)) { const el = this.renderTile(t, lod); this.tileEls.set(t, el); fresh.append(el); }
    this.tileLayer.append(fresh);
  }

  renderTile(t, lod) {
    const attrs = { class: 'node model tile', transform: `translate(${t.x - TILE_W / 2},${t.y - TILE_H / 2})`, 'data-id': t.id,
      'data-kind': 'model', 'data-relation': t.relation, 'data-parent': t.parent };
    if (lod) return svg('g', attrs, svg('rect', { class: 'box', width: TILE_W, height: TILE_H, rx: 7 }),
      svg('rect', { class: `bar fill-${colourClass(t.relation)}`, width: 3, height: TILE_H - 12, x: 6, y: 6 }));
    const tile = svg('g', { ...attrs, tabindex: 0, role: 'link', 'aria-label': t.id },
      svg('rect', { class: 'box', width: TILE_W, height: TILE_H, rx: 7 }),
      svg('rect', { class: `bar fill-${colourClass(t.relation)}`, width: 3, height: TILE_H - 12, x: 6, y: 6, rx: 1.5 }),
      svg('text', { class: 'title', x: 16, y: 17 }, shortName(t.id, 27)),
      svg('text', { class: 'sub', x: 16, y: 32 }, `↓ ${fmtCompact(t.downloads)}`),
      svg('title', {}, t.id));
    this.activate(tile, () => this.opts.onOpen(t.id));
    return tile;
  }

  // Clicks arrive through the pointer handlers (a drag is not a click); Enter and Space too.
  activate(el, fn) {
    el.__activate = fn;
    el.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); ev.stopPropagation(); fn(); }
    });
  }

  download(url) {
    if (!url) return;
    const a = h('a', { href: url, download: '' });
    document.body.append(a);
    a.click();
    a.remove();
  }

  bindPointer() {
    const el = this.svgEl;
    let start = null, target = null, pinch = null;
    el.addEventListener('pointerdown', (ev) => {
      this.pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (this.pointers.size === 1) {
        start = { x: ev.clientX, y: ev.clientY, vx: this.view.x, vy: this.view.y, moved: false };
        // The innermost element with an action: a tile inside a group wins over its head.
        let t = ev.target;
        while (t && t !== el && !t.__activate) t = t.parentNode;
        target = t && t.__activate ? t : null;
      } else if (this.pointers.size === 2) {
        const [p, q] = [...this.pointers.values()];
        pinch = { d: Math.hypot(p.x - q.x, p.y - q.y), k: this.view.k };
        target = null;
      }
      el.setPointerCapture(ev.pointerId);
    });
    el.addEventListener('pointermove', (ev) => {
      if (!this.pointers.has(ev.pointerId)) return;
      this.pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (this.pointers.size === 2 && pinch) {
        const [p, q] = [...this.pointers.values()];
        const rect = el.getBoundingClientRect();
        this.zoomTo(pinch.k * Math.hypot(p.x - q.x, p.y - q.y) / pinch.d, (p.x + q.x) / 2 - rect.left, (p.y + q.y) / 2 - rect.top);
      } else if (start) {
        const dx = ev.clientX - start.x, dy = ev.clientY - start.y;
        if (!start.moved && Math.hypot(dx, dy) > 4) { start.moved = true; el.classList.add('dragging'); }
        if (start.moved) { this.view.x = start.vx + dx; this.view.y = start.vy + dy; this.applyView(); }
      }
    });
    const end = (ev) => {
      if (!this.pointers.has(ev.pointerId)) return;
      this.pointers.delete(ev.pointerId);
      if (ev.type === 'pointerup' && start && !start.moved && target && this.pointers.size === 0) target.__activate();
      if (this.pointers.size === 0) { start = null; target = null; pinch = null; el.classList.remove('dragging'); }
    };
    el.addEventListener('pointerup', end);
    el.addEventListener('pointercancel', end);
    el.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const rect = el.getBoundingClientRect();
      const delta = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
      this.zoomTo(this.view.k * Math.exp(-delta * 0.0015), ev.clientX - rect.left, ev.clientY - rect.top);
    }, { passive: false });
  }

  zoomTo(k, cx, cy) {
    k = Math.min(3, Math.max(0.08, k));
    const { x, y, k: k0 } = this.view;
    this.view = { k, x: cx - (cx - x) * (k / k0), y: cy - (cy - y) * (k / k0) };
    this.applyView();
  }

  zoomBy(f) {
    const rect = this.svgEl.getBoundingClientRect();
    this.zoomTo(this.view.k * f, rect.width / 2, rect.height / 2);
  }

  applyView() {
    const { x, y, k } = this.view;
    this.viewport.setAttribute('transform', `translate(${x},${y}) scale(${k})`);
    if (!this.tileFrame) this.tileFrame = requestAnimationFrame(() => this.updateTiles());
  }

  bounds() {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of this.nodes.values()) {
      x0 = Math.min(x0, n.x - n.w / 2); y0 = Math.min(y0, n.y - n.h / 2);
      x1 = Math.max(x1, n.x + n.w / 2); y1 = Math.max(y1, n.y + n.h / 2);
    }
    return { x0, y0, x1, y1 };
  }

  fit() {
    const rect = this.svgEl.getBoundingClientRect();
    const b = this.bounds();
    if (!Number.isFinite(b.x0) || !rect.width) return;
    const pad = 24;
    const k = Math.min(1.1, (rect.width - 2 * pad) / (b.x1 - b.x0), (rect.height - 2 * pad) / (b.y1 - b.y0));
    // Centred across; from the top (with a margin) down, where a tree starts.
    this.view = { k, x: (rect.width - (b.x1 - b.x0) * k) / 2 - b.x0 * k, y: Math.min(48, (rect.height - (b.y1 - b.y0) * k) / 2) - b.y0 * k };
    this.applyView();
  }

  // Fit when the whole graph stays legible; else centre the current model at a readable scale.
  initialView() {
    this.fit();
    const cur = this.nodes.get(this.opts.currentId);
    if (this.view.k < 0.55 && cur) {
      const rect = this.svgEl.getBoundingClientRect();
      const k = 0.8;
      this.view = { k, x: rect.width / 2 - cur.x * k, y: rect.height / 3 - cur.y * k };
      this.applyView();
    }
  }
}
