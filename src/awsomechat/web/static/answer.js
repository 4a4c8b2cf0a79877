// One assistant answer: streamed Markdown with clickable citations, its sources, an abstention
// notice, and the actions under it (copy, regenerate, feedback). Used by the chat and reply views.

import { describeError } from "./api.js";
import { openCitation } from "./citations.js";
import { copyText, h, icon, iconButton, locationText, toast } from "./dom.js";
import { clipboardText, renderMarkdown } from "./markdown.js";

export class AnswerView {
  /**
   * mode: "chat" or "email" (a draft reply: copy drops the [n] markers).
   * onRegenerate(): re-ask; shown only while this is the last answer of the conversation.
   */
  constructor({ api, mode = "chat", onRegenerate = null }) {
    this.api = api;
    this.mode = mode;
    this.onRegenerate = onRegenerate;
    this.text = "";
    this.sources = [];
    this.citations = [];
    this.abstained = false;
    this.messageId = null;
    this.rating = null;
    this.comment = "";
    this.renderPending = false;

    this.notice = h("div", { class: "notice abstain-notice", hidden: true },
      icon("info"), h("strong", {}, mode === "email" ? "The documents do not cover this request"
        : "Not found in your documents"));
    this.answer = h("div", { class: "answer markdown", "aria-live": "polite", "aria-busy": "true" });
    this.progress = h("p", { class: "progress-line" }, h("span", { class: "dots", "aria-hidden": "true" }),
      h("span", { class: "progress-text" }, mode === "email" ? "Reading the e-mail…" : "Searching your documents…"));
    this.status = h("p", { class: "msg-status", hidden: true });
    this.sourcesList = h("ol", { class: "source-list" });
    this.sourcesBox = h("section", { class: "sources", hidden: true, "aria-label": "Sources" },
      h("h4", { class: "sources-title" }, "Sources"), this.sourcesList);
    this.actions = h("div", { class: "msg-actions", hidden: true });
    this.feedbackForm = h("form", { class: "feedback-form", hidden: true });
    this.body = h("div", { class: "msg-body" }, this.notice, this.progress, this.answer, this.status,
      this.sourcesBox, this.actions, this.feedbackForm);
    this.el = h("div", { class: "msg assistant", dataset: { state: "streaming" } },
      h("div", { class: "avatar", "aria-hidden": "true" }, icon(mode === "email" ? "mail" : "book")),
      this.body);
    this.el.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button.cite, button.source-chip");
      if (!btn || !this.el.contains(btn)) return;
      const c = this.lookup(Number(btn.dataset.n));
      if (c) openCitation(this.api, c);
    });
  }

  lookup(n) {
    return this.citations.find((c) => c.n === n) || this.sources.find((c) => c.n === n) || null;
  }

  setProgress(text) {
    this.progress.querySelector(".progress-text").textContent = text;
  }

  setSources(sources, abstained) {
    this.sources = sources || [];
    this.abstained = Boolean(abstained);
    this.el.classList.toggle("abstained", this.abstained);
    this.notice.hidden = !this.abstained;
    this.renderSources();
    this.setProgress(this.abstained ? "Writing…" : `Writing from ${this.sources.length} passage${
      this.sources.length === 1 ? "" : "s"}…`);
  }

  appendToken(text) {
    this.text += text;
    this.progress.hidden = true;
    this.scheduleRender();
  }

  scheduleRender() {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => {
      this.renderPending = false;
      renderMarkdown(this.answer, this.text, (n) => this.lookup(n));
      this.el.dispatchEvent(new CustomEvent("answer-grew", { bubbles: true }));
    });
  }

  /** The stored turn: from the stream's final event or from history. */
  finish(turn) {
    this.text = turn.answer || "";
    this.citations = turn.citations || [];
    if (turn.sources) this.sources = turn.sources;
    this.abstained = Boolean(turn.abstained);
    this.messageId = turn.message_id || turn.id || null;
    this.rating = turn.rating ?? null;
    this.comment = turn.feedback_comment || "";
    this.el.classList.toggle("abstained", this.abstained);
    this.notice.hidden = !this.abstained;
    this.progress.hidden = true;
    this.renderPending = false;
    renderMarkdown(this.answer, this.text, (n) => this.lookup(n));
    this.answer.setAttribute("aria-busy", "false");
    this.el.dataset.state = "done";
    this.renderSources();
    this.renderActions();
    if (this.messageId) this.el.dataset.messageId = this.messageId;
  }

  /** The user pressed Stop: keep what arrived, say it was not saved. */
  stopped() {
    this.progress.hidden = true;
    renderMarkdown(this.answer, this.text, (n) => this.lookup(n));
    this.answer.setAttribute("aria-busy", "false");
    this.showStatus(this.text ? "Stopped. This partial answer was not saved." : "Stopped before the answer began.",
      "muted");
    this.renderActions();
    this.el.dataset.state = "stopped";
  }

  fail(err) {
    this.progress.hidden = true;
    if (this.text) renderMarkdown(this.answer, this.text, (n) => this.lookup(n));
    this.answer.setAttribute("aria-busy", "false");
    // A wait is counted down in the banner; here it would go stale.
    this.showStatus(describeError(err).replace(/ Try again in [^.]*\.$/, ""), "error");
    this.status.setAttribute("role", "alert");
    this.renderActions();
    this.el.dataset.state = "error";
  }

  showStatus(text, tone) {
    this.status.hidden = false;
    this.status.className = `msg-status ${tone}`;
    this.status.replaceChildren(icon(tone === "error" ? "alert" : "info"), h("span", {}, text));
  }

  renderSources() {
    const cited = new Set(this.citations.map((c) => c.chunk_id));
    const done = this.el.dataset.state === "done";
    this.sourcesList.replaceChildren(...this.sources.map((c) => {
      const where = locationText(c);
      const isCited = cited.has(c.chunk_id);
      // The visible text is the accessible name; hidden words make it read "Source 2: Title, where".
      return h("li", {},
        h("button", { type: "button", class: `source-chip${isCited ? " cited" : ""}`, dataset: { n: String(c.n) } },
          h("span", { class: "visually-hidden" }, "Source "),
          h("span", { class: "n" }, String(c.n)),
          h("span", { class: "visually-hidden" }, ": "),
          h("span", { class: "chip-text" },
            h("span", { class: "chip-title" }, c.title || "Untitled"),
            where ? h("span", { class: "visually-hidden" }, ", ") : null,
            where ? h("span", { class: "chip-where" }, where) : null),
          isCited ? h("span", { class: "visually-hidden" }, " (cited)") : null));
    }));
    this.sourcesBox.hidden = this.sources.length === 0;
    this.sourcesBox.querySelector(".sources-title").textContent = this.abstained
      ? "Closest sources" : `Sources (${this.sources.length}${done || this.citations.length
        ? `, ${this.citations.length} cited` : ""})`;
  }

  setRegenerate(fn) {
    this.onRegenerate = fn;
    this.renderActions();
  }

  renderActions() {
    const buttons = [];
    if (this.text) {
      buttons.push(h("button", { type: "button", class: "act", onclick: () => this.copy() },
        icon("copy"), h("span", {}, this.mode === "email" ? "Copy draft" : "Copy")));
    }
    if (this.onRegenerate) {
      buttons.push(h("button", { type: "button", class: "act", onclick: () => this.onRegenerate() },
        icon("refresh"), h("span", {}, "Regenerate")));
    }
    if (this.messageId) {
      buttons.push(h("span", { class: "act-sep", "aria-hidden": "true" }));
      buttons.push(this.thumb(1), this.thumb(-1));
      buttons.push(h("span", { class: "feedback-state", role: "status" }, this.feedbackSummary()));
    }
    this.actions.replaceChildren(...buttons);
    this.actions.hidden = buttons.length === 0;
  }

  thumb(value) {
    const label = value === 1 ? "Good answer" : "Bad answer";
    const btn = iconButton("thumbUp", label, {
      class: `thumb${value === -1 ? " down" : ""}`,
      "aria-pressed": this.rating === value ? "true" : "false",
      onclick: () => this.rate(value),
    });
    return btn;
  }

  feedbackSummary() {
    if (this.rating === null) return "";
    const what = this.rating === 1 ? "Marked helpful" : "Marked not helpful";
    return this.comment ? `${what} · “${truncate(this.comment, 60)}”` : what;
  }

  async copy() {
    const ok = await copyText(clipboardText(this.text, this.citations, { forEmail: this.mode === "email" }));
    toast(ok ? (this.mode === "email" ? "Draft copied" : "Answer copied") : "Could not copy");
  }

  async rate(value) {
    try {
      await this.saveFeedback(value, this.comment);
      this.openFeedbackForm();
    } catch (err) {
      toast(describeError(err));
    }
  }

  async saveFeedback(rating, comment) {
    const saved = await this.api.feedback(this.messageId, rating, comment);
    this.rating = saved.rating;
    this.comment = saved.comment || "";
    this.renderActions();
    this.actions.querySelector(`.thumb${rating === -1 ? ".down" : ":not(.down)"}`)?.focus();
  }

  openFeedbackForm() {
    const id = `fb-${this.messageId}`;
    const input = h("textarea", { id, rows: "2", maxlength: "4000",
      placeholder: this.rating === 1 ? "What was good?" : "What was wrong or missing?" });
    input.value = this.comment;
    const error = h("p", { class: "error-text", role: "alert" });
    const form = this.feedbackForm;
    form.replaceChildren(
      h("label", { for: id }, "Add a comment (optional)"), input, error,
      h("div", { class: "form-actions" },
        h("button", { type: "submit", class: "btn btn-primary btn-small" }, "Save comment"),
        h("button", { type: "button", class: "btn btn-small", onclick: () => { form.hidden = true; } }, "Close")));
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      try {
        await this.saveFeedback(this.rating, input.value.trim());
        form.hidden = true;
        toast("Feedback saved");
      } catch (err) {
        error.textContent = describeError(err);
      }
    };
    input.onkeydown = (ev) => {
      if (ev.key === "Escape") {
        ev.stopPropagation();
        form.hidden = true;
      }
    };
    form.hidden = false;
    toast("Feedback saved");
  }
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
