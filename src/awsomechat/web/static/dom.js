// Small DOM helpers shared by the views: element builder, icons, announcements, dialogs, clipboard.

/**
 * Build an element: h("button", {class: "x", onclick: fn, "aria-label": "Close"}, "text", child).
 * Attributes whose value is false/null/undefined are skipped; `true` sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "html") {
      el.innerHTML = value; // only ever used with our own constant SVG markup
    } else if (name in el && typeof value !== "string" && name !== "list" && name !== "form") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Icons: simple 24×24 stroked shapes drawn for this project (no icon font, nothing fetched).
const PATHS = {
  menu: "M4 6h16M4 12h16M4 18h16",
  plus: "M12 5v14M5 12h14",
  send: "M12 19V5M5 12l7-7 7 7",
  stop: "M7 7h10v10H7z",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  refresh: "M20 12a8 8 0 1 1-2.3-5.7M20 4v5h-5",
  thumbUp: "M7 11v9H4v-9zM7 11l4-7c1.2 0 2.3 1 2 2.4L12.4 10H19a2 2 0 0 1 2 2.3l-1.2 6A2 2 0 0 1 17.8 20H7",
  pencil: "M4 20h4L19 9l-4-4L4 16zM14 6l4 4",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  filter: "M4 5h16l-6 8v6l-4-2v-4z",
  sun: "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zM12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4",
  moon: "M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z",
  upload: "M12 16V4M6 10l6-6 6 6M4 20h16",
  x: "M6 6l12 12M18 6L6 18",
  external: "M14 4h6v6M20 4l-9 9M18 14v6H4V6h6",
  mail: "M3 5h18v14H3zM3 7l9 6 9-6",
  chat: "M4 5h16v11H9l-5 4z",
  doc: "M6 3h8l4 4v14H6zM14 3v4h4M9 13h6M9 17h6",
  alert: "M12 3l10 18H2zM12 10v5M12 18v.01",
  info: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 11v6M12 7.5v.01",
  check: "M5 12l5 5 9-10",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  search: "M10.5 4a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM15.5 15.5L20 20",
  book: "M5 4h9a3 3 0 0 1 3 3v13H8a3 3 0 0 1-3-3zM5 17a3 3 0 0 1 3-3h9",
  key: "M14 10a4 4 0 1 0-3.5 4L12 16h2v2h2v2h4v-3l-5.5-5.5A4 4 0 0 0 14 10z",
};

export function icon(name, cls = "") {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `icon ${cls}`.trim());
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", PATHS[name] || PATHS.info);
  svg.append(path);
  return svg;
}

/** An icon-only button: the label is both the accessible name and the tooltip. */
export function iconButton(name, label, attrs = {}) {
  return h("button", { type: "button", "aria-label": label, title: label, ...attrs,
    class: `icon-btn ${attrs.class || ""}`.trim() }, icon(name));
}

// ------------------------------------------------------------------ announcements

let statusTimer = 0;

/** A short, polite message (e.g. "Copied") shown as a toast and read by screen readers. */
export function toast(message) {
  const region = document.getElementById("toast");
  region.textContent = message;
  region.classList.add("show");
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => region.classList.remove("show"), 2600);
}

// ------------------------------------------------------------------ dialogs

/**
 * A modal built on <dialog>: Escape closes it, focus is trapped inside and returns to the
 * opener when it closes. `build(close)` returns the body; resolves with the value given to close.
 */
export function modal({ title, build, className = "", describedBy = null }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const id = `dlg-${Math.random().toString(36).slice(2, 8)}`;
    let result = null;
    const dialog = h("dialog", { class: `modal ${className}`.trim(), "aria-labelledby": `${id}-title`,
      "aria-describedby": describedBy });
    const close = (value = null) => {
      result = value;
      dialog.close();
    };
    const header = h("header", { class: "modal-head" },
      h("h2", { id: `${id}-title` }, title),
      iconButton("x", "Close", { onclick: () => close(null) }));
    dialog.append(header, build(close, dialog));
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(result);
    });
    // A click on the backdrop (outside the box) closes, as people expect.
    dialog.addEventListener("mousedown", (ev) => {
      if (ev.target === dialog) close(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector("[autofocus], input, textarea, select, .modal-body button");
    if (first) first.focus();
  });
}

export function confirmDialog({ title, message, confirmLabel = "OK", danger = false }) {
  return modal({
    title,
    build: (close) => h("div", { class: "modal-body" },
      h("p", {}, message),
      h("div", { class: "modal-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, autofocus: true,
          onclick: () => close(true) }, confirmLabel))),
  }).then((v) => v === true);
}

export function promptDialog({ title, label, value = "", maxLength = 200, confirmLabel = "Save" }) {
  return modal({
    title,
    build: (close) => {
      const input = h("input", { type: "text", id: "prompt-input", value, maxlength: maxLength, required: true,
        autocomplete: "off" });
      const form = h("form", { class: "modal-body", onsubmit: (ev) => {
        ev.preventDefault();
        const text = input.value.trim();
        if (text) close(text);
      } },
      h("label", { for: "prompt-input" }, label), input,
      h("div", { class: "modal-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(null) }, "Cancel"),
        h("button", { type: "submit", class: "btn btn-primary" }, confirmLabel)));
      queueMicrotask(() => input.select());
      return form;
    },
  });
}

// ------------------------------------------------------------------ clipboard & formatting

/** Copy text; falls back to a hidden textarea where the async clipboard is unavailable (plain http). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the legacy path
  }
  const ta = h("textarea", { class: "visually-hidden", "aria-hidden": "true", tabindex: "-1" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString([], { year: d.getFullYear() === now.getFullYear() ? undefined : "numeric",
      month: "short", day: "numeric" });
}

/** "Title › Heading › Sub · page 3" for a citation or passage. */
export function locationText(item) {
  const parts = [];
  const path = (item.heading_path || []).filter(Boolean);
  if (path.length) parts.push(path.join(" › "));
  if (item.page !== null && item.page !== undefined) parts.push(`page ${item.page}`);
  return parts.join(" · ");
}

export function isWebUri(uri) {
  return /^https?:\/\//i.test(uri || "");
}
