// Docent's embeddable chat widget.
//   <script src="https://host/widget.js" data-bot="docs" data-key="pk_…" async></script>
// Optional: data-theme (light|dark|auto), data-title, data-greeting,
// data-position (bottom-right|bottom-left). Only a public `pk_` key belongs in a page.

import css from './style.css';
import { readSse } from './sse.js';
import { el, renderMarkdown, renderSources } from './render.js';

const script =
  /** @type {HTMLScriptElement|null} */ (document.currentScript) ||
  document.querySelector('script[data-bot][src*="widget.js"]');

if (script && !window.__docentWidget) {
  window.__docentWidget = true;
  const start = () => mount(/** @type {HTMLScriptElement} */ (script));
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
}

/** @param {HTMLScriptElement} script */
function mount(script) {
  const cfg = script.dataset;
  const bot = cfg.bot || 'docs';
  const key = cfg.key || '';
  const api = new URL(script.src, location.href).origin;
  const title = cfg.title || 'Ask the docs';
  const greeting = cfg.greeting || 'Hi! Ask me anything about the documentation.';
  const storeKey = `docent:${bot}:conversation`;
  if (!key.startsWith('pk_')) console.warn('docent widget: data-key should be a public pk_ key');

  const host = el('div');
  host.id = 'docent-widget';
  const theme = cfg.theme === 'dark' || cfg.theme === 'light' ? cfg.theme : matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  host.dataset.theme = theme;
  const shadow = host.attachShadow({ mode: 'open' });
  const style = el('style', '', css);
  const root = el('div', cfg.position === 'bottom-left' ? 'dw-left' : '');

  const launcher = el('button', 'dw-launcher', title);
  launcher.type = 'button';
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'dw-panel');

  const panel = el('section', 'dw-panel');
  panel.id = 'dw-panel';
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-labelledby', 'dw-title');

  const head = el('div', 'dw-head');
  const h = el('h2', 'dw-title', title);
  h.id = 'dw-title';
  const newBtn = button('New conversation', 'dw-btn dw-new');
  const closeBtn = button('Close', 'dw-btn dw-close');
  closeBtn.setAttribute('aria-label', 'Close chat');
  head.append(h, newBtn, closeBtn);

  const log = el('div', 'dw-log');
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  log.setAttribute('aria-label', 'Conversation');
  log.tabIndex = 0;

  const status = el('p', 'dw-sr');
  status.setAttribute('role', 'status');

  // Shown while the conversation is handed to a person (the assistant does not answer).
  const banner = el('p', 'dw-note dw-banner', 'A person from the team has this conversation and will reply; the assistant is paused.');
  banner.setAttribute('role', 'status');
  banner.hidden = true;

  const form = el('form', 'dw-form');
  const label = el('label', 'dw-sr', 'Your question');
  label.htmlFor = 'dw-input';
  const input = /** @type {HTMLTextAreaElement} */ (el('textarea', 'dw-input'));
  input.id = 'dw-input';
  input.rows = 1;
  input.placeholder = 'Ask a question…';
  input.maxLength = 4000;
  const send = button('Send', 'dw-btn dw-send');
  send.type = 'submit';
  const stop = button('Stop', 'dw-btn dw-stop');
  stop.hidden = true;
  form.append(label, input, send, stop);

  panel.append(head, log, banner, status, form);
  root.append(launcher, panel);
  shadow.append(style, root);
  document.body.append(host);

  /** @type {string|null} */ let conversation = load();
  /** @type {AbortController|null} */ let inflight = null;
  let loaded = false;

  function load() {
    try {
      return localStorage.getItem(storeKey);
    } catch {
      return null;
    }
  }
  /** @param {string|null} id */
  function save(id) {
    conversation = id;
    try {
      if (id) localStorage.setItem(storeKey, id);
      else localStorage.removeItem(storeKey);
    } catch {
      /* storage disabled: the conversation lasts for this page */
    }
  }
  const headers = (json = true) => {
    /** @type {Record<string, string>} */ const h = { Authorization: `Bearer ${key}` };
    if (json) h['Content-Type'] = 'application/json';
    return h;
  };
  const say = (/** @type {string} */ text) => {
    status.textContent = text;
  };
  /** The conversation is (not) handed to a person. @param {boolean} on */
  const handedOff = (on) => {
    banner.hidden = !on;
    root.dataset.state = on ? 'handoff' : 'open';
  };
  handedOff(false);

  function open() {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    if (!loaded) {
      loaded = true;
      greet();
      if (conversation) loadHistory(conversation);
    }
    input.focus();
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  }
  launcher.addEventListener('click', () => (panel.hidden ? open() : close()));
  closeBtn.addEventListener('click', close);
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });
  newBtn.addEventListener('click', () => {
    inflight?.abort();
    save(null);
    handedOff(false);
    log.replaceChildren();
    greet();
    say('Started a new conversation');
    input.focus();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q || inflight) return;
    input.value = '';
    ask(q);
  });
  stop.addEventListener('click', () => inflight?.abort());

  function greet() {
    const m = el('div', 'dw-msg dw-bot dw-greeting');
    m.append(el('p', '', greeting));
    log.append(m);
  }

  /** @param {string} text */
  function userBubble(text) {
    const m = el('div', 'dw-msg dw-user');
    m.append(el('p', '', text));
    log.append(m);
    return m;
  }

  function botBubble() {
    const m = el('div', 'dw-msg dw-bot');
    const body = el('div', 'dw-body');
    const sources = el('div', 'dw-sources');
    m.append(body, sources);
    log.append(m);
    return { m, body, sources };
  }

  const scroll = () => {
    log.scrollTop = log.scrollHeight;
  };

  /**
   * Final state of an answer: text, sources, actions.
   * @param {ReturnType<typeof botBubble>} b
   * @param {{id?: string, content: string, sources: any[], finish?: string, suggestions?: unknown, rating?: string}} a
   */
  function finish(b, a) {
    b.body.classList.remove('dw-typing');
    b.body.replaceChildren(renderMarkdown(a.content, a.sources));
    b.sources.replaceWith((b.sources = renderSources(a.sources)));
    if (a.finish) b.m.dataset.finish = a.finish;
    if (a.id) b.m.dataset.messageId = a.id;
    b.m.append(actions(a.id, a.content, a.rating));
    if (Array.isArray(a.suggestions) && a.suggestions.length) {
      const box = el('div', 'dw-suggest');
      for (const s of a.suggestions.slice(0, 4)) {
        if (typeof s !== 'string') continue;
        const btn = button(s, 'dw-btn');
        btn.addEventListener('click', () => !inflight && ask(s));
        box.append(btn);
      }
      b.m.append(box);
    }
    scroll();
  }

  /** Copy, feedback, handoff. @param {string|undefined} id @param {string} text @param {string} [rating] */
  function actions(id, text, rating) {
    const row = el('div', 'dw-actions');
    const note = el('p', 'dw-note');
    note.setAttribute('role', 'status');
    const copy = button('Copy', 'dw-btn dw-copy');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(text);
        note.textContent = 'Copied.';
      } catch {
        note.textContent = 'Could not copy; select the text instead.';
      }
    });
    // Words, not emoji: they read the same everywhere (no emoji font needed).
    const up = button('Helpful', 'dw-btn dw-up');
    const down = button('Not helpful', 'dw-btn dw-down');
    for (const [b, value] of /** @type {const} */ ([
      [up, 'up'],
      [down, 'down'],
    ])) {
      // Feedback given earlier (history) shows as pressed; a later click replaces it.
      b.setAttribute('aria-pressed', String(rating === value));
      b.addEventListener('click', async () => {
        up.setAttribute('aria-pressed', String(b === up));
        down.setAttribute('aria-pressed', String(b === down));
        const ok = id && (await post(`/v1/messages/${encodeURIComponent(id)}/feedback`, { rating: value }));
        note.textContent = ok ? 'Thanks for the feedback.' : 'Feedback could not be sent right now.';
      });
    }
    const human = button('Talk to a human', 'dw-btn dw-handoff');
    human.addEventListener('click', async () => {
      human.disabled = true;
      const ok =
        conversation &&
        (await post(`/v1/conversations/${encodeURIComponent(conversation)}/handoff`, {
          reason: 'visitor asked from the widget',
        }));
      note.textContent = ok ? 'A person will follow up on this conversation.' : 'Could not reach a person right now.';
      if (ok) handedOff(true);
      human.disabled = false;
    });
    row.append(copy, up, down, human);
    const wrap = el('div');
    wrap.append(row, note);
    return wrap;
  }

  /** @param {string} path @param {unknown} body */
  async function post(path, body) {
    try {
      const res = await fetch(api + path, { method: 'POST', headers: headers(), body: JSON.stringify(body) });
      return res.ok;
    } catch {
      return false;
    }
  }

  /** @param {string} id */
  async function loadHistory(id) {
    try {
      const res = await fetch(`${api}/v1/conversations/${encodeURIComponent(id)}?limit=100`, { headers: headers(false) });
      if (res.status === 404) return save(null);
      if (!res.ok) return;
      const c = await res.json();
      if (conversation !== id) return;
      handedOff(c.state === 'handoff');
      for (const m of c.messages?.data || []) {
        if (m.role === 'user') userBubble(String(m.content ?? ''));
        else if (m.role === 'assistant') {
          finish(botBubble(), {
            id: m.id,
            content: String(m.content ?? ''),
            sources: Array.isArray(m.sources) ? m.sources : [],
            finish: m.finish_reason || undefined,
            rating: m.feedback?.rating,
          });
        }
      }
      say('Conversation restored');
    } catch {
      /* history is a convenience: the conversation goes on without it */
    }
  }

  /**
   * A clear, retryable failure inside the answer bubble.
   * @param {ReturnType<typeof botBubble>} b @param {string} text @param {string} q @param {number} [waitS]
   */
  function failure(b, text, q, waitS = 0) {
    b.body.classList.remove('dw-typing');
    b.m.classList.add('dw-failed');
    const p = el('p', 'dw-error', text);
    p.setAttribute('role', 'alert');
    const retry = button('Retry', 'dw-btn dw-retry');
    let left = Math.ceil(waitS);
    const label = () => (retry.textContent = left > 0 ? `Retry in ${left}s` : 'Retry');
    label();
    if (left > 0) {
      retry.disabled = true;
      const t = setInterval(() => {
        left--;
        label();
        if (left <= 0) {
          clearInterval(t);
          retry.disabled = false;
        }
      }, 1000);
    }
    retry.addEventListener('click', () => {
      if (inflight) return;
      b.m.remove();
      ask(q, true);
    });
    b.m.append(p, retry);
    scroll();
  }

  /** @param {string} q @param {boolean} [again] the user bubble is already there */
  async function ask(q, again = false) {
    if (!again) userBubble(q);
    const b = botBubble();
    b.body.classList.add('dw-typing');
    b.m.setAttribute('aria-busy', 'true');
    scroll();
    const ctl = new AbortController();
    inflight = ctl;
    send.hidden = true;
    stop.hidden = false;
    let text = '';
    /** @type {any[]} */ let sources = [];
    /** @type {string|undefined} */ let messageId;
    let ended = false;
    const paint = () => {
      b.body.replaceChildren(renderMarkdown(text, sources));
      scroll();
    };
    try {
      const res = await fetch(`${api}/v1/chat`, {
        method: 'POST',
        headers: { ...headers(), Accept: 'text/event-stream' },
        body: JSON.stringify({
          bot_id: bot,
          message: q,
          conversation_id: conversation,
          stream: true,
          metadata: { page_url: location.href },
        }),
        signal: ctl.signal,
      });
      if (!res.ok) {
        let msg = '';
        let code = '';
        try {
          const err = (await res.json())?.error;
          msg = err?.message || '';
          code = err?.code || '';
        } catch {
          /* not JSON */
        }
        if (res.status === 409 && code === 'conversation_handed_off') {
          // Not a failure: a person has the conversation. Say so; nothing to retry.
          handedOff(true);
          b.body.classList.remove('dw-typing');
          b.body.replaceChildren(el('p', 'dw-note', msg || 'A person from the team has this conversation and will reply.'));
          b.m.dataset.finish = 'handed_off';
          say('The conversation is with a person');
          scroll();
        } else if (res.status === 429 || res.status === 503) {
          const wait = Number(res.headers.get('Retry-After')) || 5;
          failure(b, `Too many questions right now. Please retry in ${wait} seconds.`, q, wait);
        } else if (res.status === 404 && conversation) {
          save(null);
          failure(b, 'That conversation is gone; retry to start a new one.', q);
        } else {
          failure(b, msg || `The assistant could not answer (HTTP ${res.status}).`, q);
        }
        return;
      }
      await readSse(res, (ev) => {
        /** @type {any} */ let d;
        try {
          d = JSON.parse(ev.data);
        } catch {
          return;
        }
        const type = ev.event !== 'message' ? ev.event : d?.type;
        if (type === 'start') {
          if (d.conversation_id) save(d.conversation_id);
          messageId = d.message_id;
        } else if (type === 'sources') {
          sources = Array.isArray(d.sources) ? d.sources : [];
        } else if (type === 'delta') {
          text += typeof d.delta === 'string' ? d.delta : '';
          paint();
        } else if (type === 'done') {
          ended = true;
          if (d.conversation_id) save(d.conversation_id);
          finish(b, {
            id: d.message?.id || messageId,
            content: typeof d.message?.content === 'string' ? d.message.content : text,
            sources: Array.isArray(d.sources) ? d.sources : sources,
            finish: d.finish_reason,
            suggestions: d.suggestions ?? d.follow_ups,
          });
          handedOff(d.finish_reason === 'handoff');
          say(d.finish_reason === 'handoff' ? 'Handed to a person' : 'Answer complete');
        } else if (type === 'error') {
          ended = true;
          if (text) paint();
          const err = d.error || {};
          failure(b, err.message || 'The answer failed part-way.', q);
        }
        // Unknown events (citation included: markers are rendered from the text) are ignored.
      });
      if (!ended) failure(b, 'The answer was cut off. Check your connection and retry.', q);
    } catch (e) {
      if (ctl.signal.aborted) {
        b.body.classList.remove('dw-typing');
        b.m.dataset.finish = 'cancelled';
        b.m.append(el('p', 'dw-note', 'Stopped.'));
        say('Stopped');
      } else {
        failure(b, 'Could not reach the assistant. Check your connection and retry.', q);
      }
    } finally {
      b.m.removeAttribute('aria-busy');
      if (inflight === ctl) inflight = null;
      send.hidden = false;
      stop.hidden = true;
      if (!panel.hidden && (document.activeElement === document.body || shadow.activeElement === stop)) input.focus();
    }
  }
}

/** @param {string} text @param {string} cls */
function button(text, cls) {
  const b = /** @type {HTMLButtonElement} */ (el('button', cls, text));
  b.type = 'button';
  return b;
}
