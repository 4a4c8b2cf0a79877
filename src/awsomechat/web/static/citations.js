// The cited passage dialog and the whole-document viewer.

import { describeError } from "./api.js";
import { formatBytes, formatDate, h, icon, isWebUri, locationText, modal } from "./dom.js";

/** A link into this web UI (``#/doc/<id>/<chunk>``), as the API gives when a document has no public page. */
export function isAppLink(url) {
  return isWebUri(url) && url.startsWith(`${location.origin}${location.pathname}#/doc/`);
}

/**
 * The link a reader can open: the document's public page ("Open source"), or this UI's view of
 * the passage ("Link to this passage", to share or open in a new tab). Never a server path.
 */
export function sourceLink(item) {
  const url = item && item.url;
  if (!isWebUri(url)) return null;
  const label = isAppLink(url) ? "Link to this passage" : "Open source";
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "source-link" },
    icon("external"), h("span", {}, label), h("span", { class: "visually-hidden" }, " (new tab)"));
}

/** Show one citation: document title, heading path/page, the excerpt, and where it comes from. */
export function openCitation(api, citation) {
  return modal({
    title: `[${citation.n}] ${citation.title || "Untitled document"}`,
    className: "cite-dialog",
    build: (close) => {
      const where = locationText(citation);
      const link = sourceLink(citation);
      const view = h("button", { type: "button", class: "btn", onclick: () => {
        close(null);
        // Opened after this dialog closed, so focus goes back to the citation afterwards.
        setTimeout(() => openDocument(api, citation.document_id, { chunkId: citation.chunk_id }), 0);
      } }, icon("doc"), h("span", {}, "View document"));
      return h("div", { class: "modal-body" },
        where ? h("p", { class: "crumbs" }, where) : null,
        h("blockquote", { class: "excerpt" }, citation.excerpt || "(no excerpt)"),
        h("div", { class: "cite-source" }, link, view));
    },
  });
}

/** The whole document, passage by passage, scrolled to the cited one. */
export function openDocument(api, documentId, { chunkId = null } = {}) {
  return modal({
    title: "Document",
    className: "doc-dialog",
    build: (_close, dialog) => {
      const body = h("div", { class: "modal-body doc-body", "aria-busy": "true" },
        h("p", { class: "muted" }, "Loading the document…"));
      api.document(documentId).then((doc) => {
        dialog.querySelector(".modal-head h2").textContent = doc.title || "Untitled document";
        const meta = h("dl", { class: "doc-meta" },
          h("dt", {}, "Source"), h("dd", {}, doc.source || "—"),
          h("dt", {}, "Location"), h("dd", {}, sourceLink(doc) || h("code", { class: "uri" }, doc.uri || "—")),
          h("dt", {}, "Format"), h("dd", {}, `${doc.format || "?"} · ${formatBytes(doc.size_bytes)}`),
          h("dt", {}, "Passages"), h("dd", {}, String(doc.passages)),
          h("dt", {}, "Updated"), h("dd", {}, formatDate(doc.updated_at)));
        let target = null;
        const list = h("ol", { class: "passages" }, (doc.passage_list || []).map((p) => {
          const cited = p.chunk_id === chunkId;
          const where = locationText(p);
          const li = h("li", { class: cited ? "passage cited" : "passage", tabindex: cited ? "-1" : null },
            where ? h("p", { class: "crumbs" }, where) : null,
            cited ? h("p", { class: "badge" }, "Cited passage") : null,
            h("p", { class: "passage-text" }, p.text));
          if (cited) target = li;
          return li;
        }));
        body.replaceChildren(meta, h("h3", { class: "visually-hidden" }, "Passages"), list);
        body.setAttribute("aria-busy", "false");
        if (target) {
          target.scrollIntoView({ block: "center" });
          target.focus({ preventScroll: true });
        }
      }).catch((err) => {
        body.replaceChildren(h("p", { class: "error-text", role: "alert" }, describeError(err)));
        body.setAttribute("aria-busy", "false");
      });
      return body;
    },
  });
}
