// The sidebar of the user's conversations: newest first, titles from the server, rename, delete.

import { confirmDialog, formatDate, h, icon, iconButton, promptDialog, toast } from "./dom.js";

const PAGE = 50;

export class SessionsSidebar {
  constructor({ api, app }) {
    this.api = api;
    this.app = app;
    this.sessions = [];
    this.activeId = null;
    this.nextOffset = null;
    this.list = document.getElementById("session-list");
    this.more = document.getElementById("sessions-more");
    this.empty = document.getElementById("sessions-empty");
    this.more.addEventListener("click", () => this.load(this.nextOffset));
  }

  async refresh() {
    await this.load(0);
  }

  async load(offset) {
    try {
      const data = await this.api.sessions(offset, PAGE);
      this.sessions = offset ? [...this.sessions, ...data.sessions] : data.sessions;
      this.nextOffset = data.next_offset ?? null;
      this.render();
    } catch (err) {
      if (err.kind !== "auth") this.app.handleError(err);
    }
  }

  setActive(id) {
    this.activeId = id;
    for (const a of this.list.querySelectorAll("a.session-link")) {
      if (a.dataset.id === id) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  render() {
    this.list.replaceChildren(...this.sessions.map((s) => this.item(s)));
    this.more.hidden = this.nextOffset === null;
    this.empty.hidden = this.sessions.length > 0;
  }

  item(s) {
    const title = s.title || "Untitled conversation";
    const link = h("a", { class: "session-link", href: `#/chat/${s.id}`, dataset: { id: s.id },
      "aria-current": s.id === this.activeId ? "page" : null },
    icon(s.profile === "email_reply" ? "mail" : "chat"),
    h("span", { class: "session-title" }, title),
    h("span", { class: "session-date" }, formatDate(s.updated_at)));
    return h("li", { class: "session-item" }, link,
      h("div", { class: "session-actions" },
        iconButton("pencil", `Rename “${title}”`, { onclick: () => this.rename(s) }),
        iconButton("trash", `Delete “${title}”`, { onclick: () => this.remove(s) })));
  }

  async rename(s) {
    const title = await promptDialog({ title: "Rename conversation", label: "Title", value: s.title });
    if (!title || title === s.title) return;
    try {
      const updated = await this.api.renameSession(s.id, title);
      Object.assign(s, updated);
      this.render();
      if (s.id === this.activeId) this.app.chat.setTitle(updated.title);
      toast("Conversation renamed");
    } catch (err) {
      this.app.handleError(err);
    }
  }

  async remove(s) {
    const ok = await confirmDialog({
      title: "Delete conversation?",
      message: `“${s.title || "Untitled conversation"}” and all its messages will be deleted. This cannot be undone.`,
      confirmLabel: "Delete",
      danger: true,
    });
    if (!ok) return;
    try {
      await this.api.deleteSession(s.id);
      this.sessions = this.sessions.filter((x) => x.id !== s.id);
      this.render();
      toast("Conversation deleted");
      if (s.id === this.activeId) this.app.go("#/chat");
      else document.getElementById("new-chat").focus();
    } catch (err) {
      this.app.handleError(err);
    }
  }

  reset() {
    this.sessions = [];
    this.activeId = null;
    this.list.replaceChildren();
  }
}
