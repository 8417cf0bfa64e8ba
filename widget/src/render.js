// Safe Markdown-ish rendering: answer and source text only ever reach the page
// through createElement + textContent (never innerHTML), links only to http(s).
// Supported: paragraphs, `-`/`*`/`1.` lists, ``` fences, `code`, **bold**, and
// citation markers `[n]` that become numbered links to the source.

/** @param {string} tag @param {string} [cls] @param {string} [text] */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

/** A URL that is safe as an href, else null. @param {unknown} url */
export function safeUrl(url) {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

/**
 * @typedef {{index: number, title?: string, url?: string, snippet?: string}} Source
 */

/** A numbered citation link. @param {number} n @param {Source|undefined} src */
export function citeLink(n, src) {
  const href = src && safeUrl(src.url);
  if (!href) return el('sup', 'dw-cite-missing', `[${n}]`);
  const a = el('a', 'dw-cite', String(n));
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  a.dataset.index = String(n);
  a.setAttribute('aria-label', `Source ${n}: ${src.title || href}`);
  return a;
}

const INLINE = /(\*\*[^*\n]+\*\*|`[^`\n]+`|\[\d{1,2}(?:\s*,\s*\d{1,2})*\])/;

/** Inline spans into `parent`. @param {HTMLElement} parent @param {string} text @param {Map<number, Source>} sources */
function inline(parent, text, sources) {
  for (const part of text.split(INLINE)) {
    if (!part) continue;
    if (part.startsWith('**') && part.endsWith('**') && part.length > 4) {
      parent.append(el('strong', '', part.slice(2, -2)));
    } else if (part[0] === '`' && part.endsWith('`') && part.length > 2) {
      parent.append(el('code', '', part.slice(1, -1)));
    } else if (/^\[\d/.test(part) && part.endsWith(']')) {
      const nums = part.slice(1, -1).split(',').map((s) => Number(s.trim()));
      if (nums.every((n) => sources.has(n))) {
        nums.forEach((n) => parent.append(citeLink(n, sources.get(n))));
      } else {
        parent.append(document.createTextNode(part));
      }
    } else {
      parent.append(document.createTextNode(part));
    }
  }
}

/**
 * Render `text` into a fragment.
 * @param {string} text
 * @param {Source[]} sourceList
 */
export function renderMarkdown(text, sourceList) {
  const sources = new Map(sourceList.map((s) => [Number(s.index), s]));
  const frag = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  /** @type {HTMLElement|null} */ let list = null;
  /** @type {string[]} */ let para = [];
  const flush = () => {
    if (para.length) {
      const p = el('p');
      inline(p, para.join(' '), sources);
      frag.append(p);
      para = [];
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trimStart().startsWith('```')) {
      flush();
      list = null;
      const code = [];
      for (i++; i < lines.length && !lines[i].trimStart().startsWith('```'); i++) code.push(lines[i]);
      const pre = el('pre');
      pre.append(el('code', '', code.join('\n')));
      frag.append(pre);
      continue;
    }
    const item = /^\s*(?:([-*•])|(\d{1,3})[.)])\s+(.*)$/.exec(line);
    if (item) {
      flush();
      const tag = item[1] ? 'ul' : 'ol';
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = el(tag);
        frag.append(list);
      }
      const li = el('li');
      inline(li, item[3], sources);
      list.append(li);
      continue;
    }
    if (line.trim() === '') {
      flush();
      list = null;
      continue;
    }
    list = null;
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const h = el('p', 'dw-h');
      inline(h, heading[1], sources);
      frag.append(h);
      continue;
    }
    para.push(line.trim());
  }
  flush();
  return frag;
}

/** The sources list. @param {Source[]} sourceList */
export function renderSources(sourceList) {
  const box = el('div', 'dw-sources');
  if (!sourceList.length) return box;
  box.append(el('p', 'dw-sources-title', 'Sources'));
  const ol = el('ol');
  for (const s of sourceList) {
    const li = el('li');
    li.value = Number(s.index) || 0;
    const href = safeUrl(s.url);
    const title = s.title || s.url || `Source ${s.index}`;
    if (href) {
      const a = el('a', '', title);
      a.href = href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      li.append(a);
    } else {
      li.append(document.createTextNode(title));
    }
    ol.append(li);
  }
  box.append(ol);
  return box;
}
