// Model cards are Markdown written by whoever pushed the model: render them with marked, then
// let DOMPurify keep only inert HTML. Raw HTML in the card is allowed through the same
// sanitizer (cards use <img>, <details>, tables), so scripts, event handlers, styles, forms and
// frames are gone, and links or images whose URL is not http(s), mailto or a file of this
// repo are removed: a javascript: link becomes its plain text.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';

// Chromium checks the page's CSP as soon as the HTML parser meets an event handler attribute,
// even in an inert document (DOMParser, which DOMPurify uses, <template> or
// createHTMLDocument alike), and logs a violation for every one although nothing can run. So
// the card's raw HTML loses its on* attributes before anything parses it; DOMPurify still
// decides what is safe, this only keeps the console clean.
const marked = new Marked({ gfm: true, breaks: false, async: false, renderer: { html: ({ text }) => dropEventHandlers(text) } });

// A tag's start, the gap between attributes, an attribute (name, then an optional value: "..", '..' or
// bare), as the HTML tokenizer reads them; comments are copied whole ("<!-->" is one too).
const GAP = /[\t\n\f\r /]*/y;  // between attributes: whitespace and stray slashes
const TAG_OPEN = /<\/?[a-zA-Z][^\t\n\f\r />]*/y;
const ATTRIBUTE = /[^\t\n\f\r />][^\t\n\f\r />=]*(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"[^"]*"?|'[^']*'?|[^\t\n\f\r >]*))?/y;
const COMMENT_END = /--!?>/g;

function match(re, text, at) {
  re.lastIndex = at;
  const m = re.exec(text);
  return m ? m[0] : '';
}

// Raw HTML without event handler attributes (on...=), everything else unchanged.
export function dropEventHandlers(html) {
  let out = '';
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) return out + html.slice(i);
    out += html.slice(i, lt);
    i = lt;
    if (html.startsWith('<!--', i)) {
      COMMENT_END.lastIndex = i + 2;
      const end = COMMENT_END.exec(html);
      const stop = end ? end.index + end[0].length : html.length;
      out += html.slice(i, stop);
      i = stop;
      continue;
    }
    const open = match(TAG_OPEN, html, i);
    if (!open) { out += '<'; i += 1; continue; }
    out += open;
    i += open.length;
    while (i < html.length) {
      const gap = match(GAP, html, i);
      if (gap) { out += gap; i += gap.length; continue; }
      if (html[i] === '>') { out += '>'; i += 1; break; }
      const attribute = match(ATTRIBUTE, html, i);
      if (!/^on/i.test(attribute)) out += attribute;
      i += attribute.length;
    }
  }
  return out;
}

const SAFE_LINK = /^(https?:|mailto:|#|\/(?!\/)|\.{0,2}\/|[^:/?#]+(?:[/?#]|$))/i;

// Drops YAML front matter (its fields are shown elsewhere, from cardData).
export function stripFrontMatter(text) {
  const m = /^---\r?\n[\s\S]*?\r?\n---[ \t]*(\r?\n|$)/.exec(text);
  return m ? text.slice(m[0].length) : text;
}

// `resolveFile(path)` answers the URL of a file of this repo (or null if the repo has no such
// file), for relative images and links.
export function renderCard(markdown, resolveFile) {
  const html = marked.parse(stripFrontMatter(markdown));
  const purify = DOMPurify(window);
  purify.addHook('uponSanitizeAttribute', (node, data) => {
    // A URL with control characters or entities that decode to a scheme is treated like the scheme.
    if (data.attrName === 'href' || data.attrName === 'src' || data.attrName === 'xlink:href') {
      const v = data.attrValue.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
      if (!SAFE_LINK.test(v) || /^(javascript|vbscript|data|file):/i.test(v)) data.keepAttr = false;
    }
  });
  const fragment = purify.sanitize(html, {
    RETURN_DOM_FRAGMENT: true,
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'link', 'meta', 'base', 'svg', 'math'],
    FORBID_ATTR: ['style', 'srcset', 'action', 'formaction', 'background', 'ping'],
    ALLOW_DATA_ATTR: false,
  });
  purify.removeAllHooks();
  // Links and images are settled after sanitizing (changing the tree inside DOMPurify's walk
  // is not safe), before the fragment enters the page, so nothing loads meanwhile.
  for (const a of fragment.querySelectorAll('a')) {
    const href = a.getAttribute('href');
    if (!href) { a.replaceWith(...a.childNodes); continue; }
    if (/^https?:/i.test(href)) { a.setAttribute('rel', 'noopener noreferrer nofollow'); a.setAttribute('target', '_blank'); }
    else if (!href.startsWith('#') && !/^mailto:/i.test(href) && !href.startsWith('/')) {
      const url = resolveFile(href.replace(/^\.\//, ''));
      if (url) a.setAttribute('href', url); else a.replaceWith(...a.childNodes);
    }
  }
  for (const img of fragment.querySelectorAll('img')) {
    const src = img.getAttribute('src');
    // Images from other hosts are not fetched (the page's CSP would refuse them anyway): their
    // alt text stands in; relative ones load from this repo when the file exists.
    const url = src && !/^[a-z][a-z0-9+.-]*:/i.test(src) && !src.startsWith('/') ? resolveFile(src.replace(/^\.\//, '')) : null;
    if (url) img.setAttribute('src', url);
    else img.replaceWith(document.createTextNode(img.getAttribute('alt') || ''));
  }
  return fragment;
}
