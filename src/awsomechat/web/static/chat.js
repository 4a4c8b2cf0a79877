// The conversation view: history, composer (Enter sends, Shift+Enter adds a line), streaming with
// Stop, regenerate, filters.

import { AnswerView } from "./answer.js";
import { describeError } from "./api.js";
import { h, icon } from "./dom.js";
import { FiltersControl } from "./filters.js";

export class ChatView {
  constructor({ api, app }) {
    this.api = api;
    this.app = app;
    this.sessionId = null;
    this.profile = "chat";
    this.turns = []; // {question, answer: AnswerView}
    this.running = null; // {controller, answer}
    this.loadToken = 0;

    this.root = document.getElementById("view-chat");
    this.heading = document.getElementById("chat-heading");
    this.scroller = document.getElementById("chat-scroll");
    this.list = document.getElementById("messages");
    this.form = document.getElementById("composer");
    this.input = document.getElementById("composer-input");
    this.sendBtn = document.getElementById("send-btn");
    this.counter = document.getElementById("composer-count");
    this.filters = new FiltersControl({
      api, button: document.getElementById("filters-btn"), chips: document.getElementById("filter-chips"),
    });

    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (this.running) this.stop();
      else this.sendFromComposer();
    });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        if (!this.running) this.sendFromComposer();
      } else if (ev.key === "Escape" && this.running) {
        ev.preventDefault();
        this.stop();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.list.addEventListener("answer-grew", () => this.stickToBottom());
  }

  get maxChars() {
    return (this.app.info && this.app.info.max_message_chars) || 8000;
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
    const n = this.input.value.length;
    const max = this.maxChars;
    this.counter.hidden = n < max * 0.8;
    this.counter.textContent = `${n} / ${max}`;
    this.counter.classList.toggle("over", n > max);
  }

  focusComposer() {
    this.input.focus();
  }

  setRunning(running) {
    this.sendBtn.replaceChildren(icon(running ? "stop" : "send"));
    this.sendBtn.setAttribute("aria-label", running ? "Stop generating" : "Send message");
    this.sendBtn.title = running ? "Stop generating (Esc)" : "Send message (Enter)";
    this.sendBtn.classList.toggle("stop", running);
  }

  /** Start an empty conversation. */
  newChat() {
    this.abortRunning();
    this.loadToken += 1;
    this.sessionId = null;
    this.profile = "chat";
    this.turns = [];
    this.setTitle(null);
    this.renderEmpty();
  }

  setTitle(title) {
    this.heading.textContent = title || "New conversation";
    this.app.setDocTitle(title || "New conversation");
  }

  renderEmpty() {
    this.list.replaceChildren(h("div", { class: "empty-state" },
      h("div", { class: "empty-mark", "aria-hidden": "true" }, icon("book")),
      h("p", { class: "empty-title" }, "Ask your documents"),
      h("p", { class: "muted" },
        "Answers come from the documents you can access and cite their sources: click a ",
        h("span", { class: "cite demo", "aria-hidden": "true" }, "1"),
        " marker to read the passage."),
      h("p", { class: "muted small" }, "Enter sends · Shift+Enter adds a line · Esc stops an answer")));
  }

  /** Load a stored conversation and show its turns. */
  async openSession(id) {
    if (id === this.sessionId && this.turns.length) return;
    this.abortRunning();
    const token = ++this.loadToken;
    this.sessionId = id;
    this.turns = [];
    this.list.replaceChildren(h("p", { class: "muted loading" }, "Loading the conversation…"));
    try {
      const data = await this.api.messages(id);
      if (token !== this.loadToken) return;
      this.profile = data.session.profile || "chat";
      this.setTitle(data.session.title);
      this.list.replaceChildren();
      for (const m of data.messages) {
        const turn = this.addTurn(m.question);
        turn.answer.finish(m);
      }
      if (!data.messages.length) this.renderEmpty();
      this.updateRegenerate();
      this.scroller.scrollTop = this.scroller.scrollHeight;
    } catch (err) {
      if (token !== this.loadToken) return;
      if (err.kind === "auth") return;
      this.list.replaceChildren(h("div", { class: "notice error", role: "alert" }, icon("alert"),
        h("span", {}, err.status === 404 ? "This conversation does not exist any more." : describeError(err))));
      this.setTitle("Conversation");
    }
  }

  addTurn(question) {
    if (!this.turns.length) this.list.replaceChildren();
    const answer = new AnswerView({ api: this.api, mode: this.profile === "email_reply" ? "email" : "chat" });
    const el = h("article", { class: "turn", "aria-label": `Question ${this.turns.length + 1}` },
      h("div", { class: "msg user" },
        h("h3", { class: "visually-hidden" }, "You asked"),
        h("div", { class: "bubble" }, question)),
      h("h3", { class: "visually-hidden" }, "Answer"),
      answer.el);
    this.list.append(el);
    const turn = { question, answer, el };
    this.turns.push(turn);
    return turn;
  }

  updateRegenerate() {
    this.turns.forEach((t, i) => {
      const last = i === this.turns.length - 1;
      t.answer.setRegenerate(last && !this.running ? () => this.ask(t.question) : null);
    });
  }

  sendFromComposer() {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > this.maxChars) {
      this.app.showBanner({ message: `Your message is too long (${text.length} characters; the limit is ${
        this.maxChars}).` });
      return;
    }
    this.input.value = "";
    this.autosize();
    this.ask(text);
  }

  stickToBottom() {
    const s = this.scroller;
    if (s.scrollHeight - s.scrollTop - s.clientHeight < 160) s.scrollTop = s.scrollHeight;
  }

  /** Send a question (new or regenerated) and stream its answer. */
  async ask(question) {
    if (this.running) return;
    this.app.clearBanner();
    const turn = this.addTurn(question);
    const controller = new AbortController();
    this.running = { controller, answer: turn.answer };
    this.setRunning(true);
    this.updateRegenerate();
    // Not scrollIntoView: it would also scroll the clipped frame around the conversation.
    this.scroller.scrollTop = Math.max(0, turn.el.offsetTop - 12);
    const body = { message: question, profile: this.profile };
    if (this.sessionId) body.session_id = this.sessionId;
    const filters = this.filters.value();
    if (filters.length) body.filters = filters;
    const startedIn = this.sessionId;
    try {
      const final = await this.api.chat(body, {
        signal: controller.signal,
        onEvent: (type, data) => {
          if (type === "sources") turn.answer.setSources(data.sources, data.abstained);
          else if (type === "token") turn.answer.appendToken(data.text || "");
        },
      });
      turn.answer.finish(final);
      if (final.session_id && !startedIn && this.running && this.running.controller === controller) {
        this.sessionId = final.session_id;
        this.app.sessionCreated(final.session_id);
      } else {
        this.app.sessionTouched();
      }
    } catch (err) {
      if (err && err.name === "AbortError") {
        turn.answer.stopped();
      } else {
        turn.answer.fail(err);
        this.app.handleError(err, { inline: true });
      }
    } finally {
      if (this.running && this.running.controller === controller) {
        this.running = null;
        this.setRunning(false);
        this.updateRegenerate();
      }
      this.stickToBottom();
    }
  }

  stop() {
    if (this.running) this.running.controller.abort();
  }

  /** Leaving the conversation stops its answer (the server stops generating it). */
  abortRunning() {
    if (!this.running) return;
    this.running.controller.abort();
    this.running = null;
    this.setRunning(false);
  }

  reset() {
    this.abortRunning();
    this.sessionId = null;
    this.turns = [];
    this.list.replaceChildren();
    this.filters.reset();
  }
}
