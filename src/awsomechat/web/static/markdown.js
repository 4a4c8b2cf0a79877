// Answers are Markdown from a language model: parse with marked, sanitize with DOMPurify (no raw
// HTML survives: no scripts, styles, forms or images that would call out), then turn [n] markers
// into buttons that open the cited passage.

import { marked } from "./vendor/marked.esm.js";
import { copyText, h, icon, toast } from "./dom.js";

const DOMPurify = window.DOMPurify;

marked.use({ gfm: true, breaks: false, async: false });

// The same marker forms the server resolves: [1], [1, 3], [1][2], [1-2].
const MARKER = /\[(\d{1,3}(?:\s*[,–-]\s*\d{1,3})*)\]/g;

function markerNumbers(group) {
  const out = [];
  for (const part of group.split(/\s*,\s*/)) {
    const range = part.split(/\s*[–-]\s*/).map(Number);
    if (range.length === 2 && range[1] > range[0] && range[1] - range[0] < 10) {
      for (let n = range[0]; n <= range[1]; n += 1) out.push(n);
    } else {
      out.push(...range);
    }
  }
  return [...new Set(out)];
}

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "img", "video", "audio", "iframe"],
  FORBID_ATTR: ["style", "id", "class"],
  RETURN_DOM_FRAGMENT: true,
};

/**
 * Render `text` as sanitized Markdown into `target`. lookup(n) returns the citation numbered n
 * (or null: the marker stays plain text).
 */
export function renderMarkdown(target, text, lookup = () => null) {
  const fragment = DOMPurify.sanitize(marked.parse(text || ""), SANITIZE);
  linkCitations(fragment, lookup);
  for (const a of fragment.querySelectorAll("a[href]")) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer nofollow");
  }
  for (const table of fragment.querySelectorAll("table")) {
    const wrap = h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Table" });
    table.replaceWith(wrap);
    wrap.append(table);
  }
  for (const pre of fragment.querySelectorAll("pre")) {
    const code = pre.textContent;
    const btn = h("button", { type: "button", class: "code-copy", "aria-label": "Copy code",
      onclick: async () => toast((await copyText(code)) ? "Code copied" : "Could not copy") },
    icon("copy"), h("span", {}, "Copy"));
    const wrap = h("div", { class: "code-block" });
    pre.replaceWith(wrap);
    wrap.append(btn, pre);
  }
  target.replaceChildren(fragment);
}

function linkCitations(root, lookup) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement && node.parentElement.closest("code, pre, a")
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) {
    if (walker.currentNode.nodeValue.includes("[")) nodes.push(walker.currentNode);
  }
  for (const node of nodes) {
    const text = node.nodeValue;
    const parts = [];
    let last = 0;
    for (const m of text.matchAll(MARKER)) {
      const found = markerNumbers(m[1]).map((n) => [n, lookup(n)]).filter(([, c]) => c);
      if (!found.length) continue;
      parts.push(text.slice(last, m.index));
      const group = h("span", { class: "cites" });
      for (const [n, c] of found) group.append(citeButton(n, c));
      parts.push(group);
      last = m.index + m[0].length;
    }
    if (!parts.length) continue;
    parts.push(text.slice(last));
    node.replaceWith(...parts.filter((p) => p !== ""));
  }
}

export function citeButton(n, citation) {
  return h("button", { type: "button", class: "cite", dataset: { n: String(n) },
    "aria-label": `Source ${n}: ${citation.title || "untitled"}`, title: citation.title || "" }, String(n));
}

/**
 * The answer for the clipboard. Chat answers keep their [n] markers and get the source list under
 * them; an e-mail draft drops the markers (a customer cannot follow them).
 */
export function clipboardText(text, citations = [], { forEmail = false } = {}) {
  let body = (text || "").trim();
  if (forEmail) return body.replace(MARKER, "").replace(/[ \t]+([.,;:!?])/g, "$1").replace(/[ \t]{2,}/g, " ");
  if (citations.length) {
    // The openable link (public page or this UI's view), never the server path in ``uri``.
    body += "\n\nSources:\n" + citations.map((c) => `[${c.n}] ${c.title}${c.url ? ` — ${c.url}` : ""}`).join("\n");
  }
  return body;
}
