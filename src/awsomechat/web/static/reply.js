// Reply drafting: a customer e-mail in, a grounded draft reply with its sources out (profile
// email_reply). Each draft is its own conversation, so it also appears in the sidebar.

import { AnswerView } from "./answer.js";
import { h, icon } from "./dom.js";

export class ReplyView {
  constructor({ api, app }) {
    this.api = api;
    this.app = app;
    this.running = null;
    this.form = document.getElementById("reply-form");
    this.input = document.getElementById("reply-input");
    this.submit = document.getElementById("reply-submit");
    this.output = document.getElementById("reply-output");
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (this.running) this.running.abort();
      else this.draft();
    });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        if (!this.running) this.draft();
      } else if (ev.key === "Escape" && this.running) {
        ev.preventDefault();
        this.running.abort();
      }
    });
  }

  setRunning(running) {
    this.submit.replaceChildren(icon(running ? "stop" : "mail"), h("span", {}, running ? "Stop" : "Draft reply"));
    this.submit.classList.toggle("btn-danger", running);
    this.submit.classList.toggle("btn-primary", !running);
  }

  async draft() {
    const email = this.input.value.trim();
    const max = (this.app.info && this.app.info.max_message_chars) || 8000;
    if (!email) {
      this.input.focus();
      return;
    }
    if (email.length > max) {
      this.app.showBanner({ message: `The e-mail is too long (${email.length} characters; the limit is ${max}).` });
      return;
    }
    this.app.clearBanner();
    const answer = new AnswerView({ api: this.api, mode: "email" });
    this.output.replaceChildren(h("h3", { class: "section-title" }, "Draft reply"), answer.el);
    const controller = new AbortController();
    this.running = controller;
    this.setRunning(true);
    try {
      const final = await this.api.chat({ message: email, profile: "email_reply" }, {
        signal: controller.signal,
        onEvent: (type, data) => {
          if (type === "sources") answer.setSources(data.sources, data.abstained);
          else if (type === "token") answer.appendToken(data.text || "");
        },
      });
      answer.finish(final);
      this.app.sessionTouched();
    } catch (err) {
      if (err && err.name === "AbortError") answer.stopped();
      else {
        answer.fail(err);
        this.app.handleError(err, { inline: true });
      }
    } finally {
      this.running = null;
      this.setRunning(false);
    }
  }

  abortRunning() {
    if (this.running) this.running.abort();
  }

  reset() {
    this.abortRunning();
    this.input.value = "";
    this.output.replaceChildren();
  }
}
