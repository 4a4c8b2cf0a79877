// AWSomeChat web UI: sign-in, routing between views (#/chat/<id>, #/reply, #/documents, and
// #/doc/<id>/<passage>: a document opened at a passage, the link citations carry), theme,
// the error banner, and the shortcuts. Plain ES modules, no build step; everything is served locally.

import { Api, API_BASE, describeError, formatWait } from "./api.js";
import { ChatView } from "./chat.js";
import { openDocument } from "./citations.js";
import { DocumentsView } from "./documents.js";
import { icon } from "./dom.js";
import { ReplyView } from "./reply.js";
import { SessionsSidebar } from "./sessions.js";
import { showSsoLink, takeSsoError } from "./sso.js";

const KEY_STORAGE = "awsomechat.apiKey";
const THEME_STORAGE = "awsomechat.theme";
const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.info = null;
    this.me = null;
    this.key = sessionStorage.getItem(KEY_STORAGE) || "";
    this.csrf = ""; // the single sign-on session's CSRF token (its cookie is HttpOnly: not ours to see)
    this.ssoConfig = null;
    this.bannerTimer = 0;
    this.api = new Api({
      getKey: () => this.key,
      getCsrf: () => this.csrf,
      onUnauthorized: () => this.signOut("Your session has ended or your API key was revoked. Sign in again."),
    });
    this.chat = new ChatView({ api: this.api, app: this });
    this.sessions = new SessionsSidebar({ api: this.api, app: this });
    this.reply = new ReplyView({ api: this.api, app: this });
    this.documents = new DocumentsView({ api: this.api, app: this });
  }

  async start() {
    for (const el of document.querySelectorAll("[data-icon]")) el.prepend(icon(el.dataset.icon));
    this.initTheme();
    this.bindChrome();
    $("signin-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.signIn($("signin-key").value.trim());
    });
    $("signin-retry").addEventListener("click", () => this.connect());
    await this.connect();
  }

  /**
   * Read /v1/info, then go straight in (stored key, local mode, or a single sign-on session) or show
   * the sign-in form (with the single sign-on link when the server offers it).
   */
  async connect() {
    $("signin-retry").hidden = true;
    this.setSigninMessage("");
    try {
      this.info = await this.api.info();
    } catch (err) {
      this.showSignin();
      this.setSigninMessage(describeError(err), "error");
      $("signin-retry").hidden = false;
      return;
    }
    this.ssoConfig = await this.api.authConfig().catch(() => null);
    showSsoLink(this.ssoConfig, API_BASE);
    const ssoError = takeSsoError();
    if (this.key || this.info.local_mode) {
      try {
        this.me = await this.api.me(this.key);
        this.enter();
        return;
      } catch (err) {
        this.key = "";
        sessionStorage.removeItem(KEY_STORAGE);
        this.showSignin();
        this.setSigninMessage(err.kind === "auth" ? "Your saved API key is no longer accepted. Sign in again."
          : describeError(err), "error");
        if (err.kind !== "auth") $("signin-retry").hidden = false;
        return;
      }
    }
    if (this.ssoConfig && this.ssoConfig.oidc && !ssoError) {
      try {
        const session = await this.api.session();
        this.csrf = session.csrf_token;
        this.me = { user_id: session.user_id, groups: session.groups, admin: session.admin, local_mode: false };
        this.enter();
        return;
      } catch {
        // not signed in with single sign-on: the sign-in page below
      }
    }
    this.showSignin();
    if (ssoError) this.setSigninMessage(ssoError, "error");
  }

  async signIn(key) {
    if (!key) {
      this.setSigninMessage("Enter your API key.", "error");
      $("signin-key").focus();
      return;
    }
    const btn = $("signin-submit");
    btn.disabled = true;
    this.setSigninMessage("Checking your key…");
    try {
      if (!this.info) this.info = await this.api.info();
      this.me = await this.api.me(key);
      this.key = key;
      sessionStorage.setItem(KEY_STORAGE, key);
      $("signin-key").value = "";
      this.enter();
    } catch (err) {
      this.setSigninMessage(err.kind === "auth" ? "That API key was not accepted. Check it and try again."
        : describeError(err), "error");
      $("signin-key").select();
    } finally {
      btn.disabled = false;
    }
  }

  signOut(message = "You are signed out.") {
    if ($("app").hidden) return;
    if (this.csrf) {
      this.api.logout().catch(() => {}); // ends the session on the server (the request carries the token)
      this.csrf = "";
    }
    this.key = "";
    sessionStorage.removeItem(KEY_STORAGE);
    this.me = null;
    this.chat.reset();
    this.reply.reset();
    this.documents.reset();
    this.sessions.reset();
    this.clearBanner();
    history.replaceState(null, "", location.pathname + location.search);
    this.showSignin();
    this.setSigninMessage(message, message.startsWith("You are") ? "info" : "error");
    if (this.info && this.info.local_mode) {
      // Local mode needs no key: offer the way straight back in.
      $("signin-local").hidden = false;
    }
  }

  showSignin() {
    $("app").hidden = true;
    $("signin").hidden = false;
    document.title = "Sign in · AWSomeChat";
    $("signin-local").hidden = !(this.info && this.info.local_mode);
    $("signin-key").focus();
  }

  setSigninMessage(text, tone = "info") {
    const el = $("signin-message");
    el.textContent = text;
    el.className = `signin-message ${tone}`;
    el.hidden = !text;
  }

  enter() {
    $("app-version").textContent = this.info && this.info.version ? `v${this.info.version}` : "";
    $("signin").hidden = true;
    $("app").hidden = false;
    const me = this.me || {};
    $("who").textContent = me.local_mode && !this.key ? "Local mode" : me.user_id || "";
    $("who").title = me.groups && me.groups.length ? `Groups: ${me.groups.join(", ")}` : "";
    $("nav-documents").hidden = !me.admin;
    $("signout-btn").hidden = Boolean(me.local_mode && !this.key);
    const profiles = (this.info && this.info.profiles) || [];
    $("nav-reply").hidden = profiles.length > 0 && !profiles.some((p) => p.name === "email_reply");
    this.sessions.refresh();
    this.route();
  }

  // ------------------------------------------------------------------ routing

  go(hash) {
    if (location.hash === hash) this.route();
    else location.hash = hash;
  }

  route() {
    if ($("app").hidden) return;
    const hash = location.hash || "#/chat";
    const [, view = "chat", id = "", part = ""] = hash.split("/");
    this.closeSidebar();
    if (view === "doc" && id) {
      // A citation's link: the document, scrolled to the passage, over a new conversation.
      this.showView("chat");
      this.sessions.setActive(null);
      this.chat.newChat();
      this.setDocTitle("Document");
      openDocument(this.api, decodeURIComponent(id), { chunkId: part ? decodeURIComponent(part) : null });
      history.replaceState(null, "", "#/chat"); // the same link, followed again, opens it again
    } else if (view === "documents" && this.me && this.me.admin) {
      this.showView("documents");
      this.documents.show();
      this.setDocTitle("Documents");
    } else if (view === "reply") {
      this.showView("reply");
      this.setDocTitle("Draft a reply");
    } else {
      this.showView("chat");
      if (id && /^[0-9a-f-]{36}$/i.test(id)) {
        this.sessions.setActive(id);
        this.chat.openSession(id);
      } else {
        this.sessions.setActive(null);
        this.chat.newChat();
      }
    }
  }

  showView(name) {
    for (const v of ["chat", "reply", "documents"]) {
      $(`view-${v}`).hidden = v !== name;
      const link = $(`nav-${v}`);
      if (v === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (name !== "chat") this.chat.abortRunning();
    if (name !== "reply") this.reply.abortRunning();
  }

  setDocTitle(title) {
    document.title = `${title} · AWSomeChat`;
  }

  /** The first answer of a new conversation arrived: it now has an id and a title. */
  sessionCreated(id) {
    history.replaceState(null, "", `#/chat/${id}`);
    this.sessions.refresh().then(() => {
      this.sessions.setActive(id);
      const s = this.sessions.sessions.find((x) => x.id === id);
      if (s) this.chat.setTitle(s.title);
    });
  }

  sessionTouched() {
    this.sessions.refresh().then(() => this.sessions.setActive(this.chat.sessionId));
  }

  // ------------------------------------------------------------------ errors

  /**
   * Show what went wrong where a person will see it. 401 has already sent them to sign-in.
   * inline: the view shows the error itself; the banner is only for waits and outages.
   */
  handleError(err, { inline = false } = {}) {
    if (!err || err.name === "AbortError" || err.kind === "auth") return;
    if (err.kind === "rate" || err.kind === "busy" || err.kind === "network") {
      this.showBanner({ message: describeError(err), retryAfter: err.retryAfter, kind: err.kind });
    } else if (!inline) {
      this.showBanner({ message: describeError(err) });
    }
  }

  showBanner({ message, retryAfter = null, kind = "error" }) {
    const banner = $("banner");
    const text = $("banner-text");
    clearInterval(this.bannerTimer);
    banner.dataset.kind = kind;
    banner.hidden = false;
    const base = message.replace(/ Try again in .*$/, "");
    if (retryAfter) {
      const until = Date.now() + retryAfter * 1000;
      const tick = () => {
        const left = Math.ceil((until - Date.now()) / 1000);
        if (left <= 0) {
          clearInterval(this.bannerTimer);
          text.textContent = `${base} You can try again now.`;
        } else {
          text.textContent = `${base} Try again in ${formatWait(left)}.`;
        }
      };
      tick();
      this.bannerTimer = setInterval(tick, 1000);
    } else {
      text.textContent = message;
    }
  }

  clearBanner() {
    clearInterval(this.bannerTimer);
    $("banner").hidden = true;
  }

  // ------------------------------------------------------------------ chrome: theme, sidebar, keys

  initTheme() {
    const saved = localStorage.getItem(THEME_STORAGE);
    if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
    this.renderThemeButton();
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.renderThemeButton());
  }

  isDark() {
    const t = document.documentElement.dataset.theme;
    return t ? t === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  renderThemeButton() {
    const btn = $("theme-btn");
    const dark = this.isDark();
    btn.setAttribute("aria-pressed", String(dark));
    btn.replaceChildren(icon(dark ? "moon" : "sun"));
    btn.title = dark ? "Dark theme (click for light)" : "Light theme (click for dark)";
  }

  toggleTheme() {
    const next = this.isDark() ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem(THEME_STORAGE, next);
    this.renderThemeButton();
  }

  openSidebar() {
    document.body.classList.add("sidebar-open");
    $("main").inert = true; // behind the scrim: out of the tab order until the sidebar closes
    $("menu-btn").setAttribute("aria-expanded", "true");
    $("new-chat").focus();
  }

  closeSidebar() {
    if (!document.body.classList.contains("sidebar-open")) return;
    document.body.classList.remove("sidebar-open");
    $("main").inert = false;
    $("menu-btn").setAttribute("aria-expanded", "false");
  }

  bindChrome() {
    window.addEventListener("hashchange", () => this.route());
    $("theme-btn").addEventListener("click", () => this.toggleTheme());
    $("signin-theme-btn").addEventListener("click", () => this.toggleTheme());
    $("signout-btn").addEventListener("click", () => this.signOut());
    $("signin-local").addEventListener("click", () => this.connect());
    $("banner-close").addEventListener("click", () => this.clearBanner());
    $("new-chat").addEventListener("click", () => {
      this.go("#/chat");
      this.chat.focusComposer();
    });
    $("menu-btn").addEventListener("click", () => {
      if (document.body.classList.contains("sidebar-open")) this.closeSidebar();
      else this.openSidebar();
    });
    $("scrim").addEventListener("click", () => this.closeSidebar());
    window.matchMedia("(min-width: 861px)").addEventListener("change", (ev) => {
      if (ev.matches) this.closeSidebar(); // the sidebar is always shown on wide screens
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.defaultPrevented || $("app").hidden || document.querySelector("dialog[open]")) return;
      const typing = ev.target.closest && ev.target.closest("input, textarea, select, [contenteditable]");
      if (ev.key === "Escape" && document.body.classList.contains("sidebar-open")) {
        this.closeSidebar();
        $("menu-btn").focus();
      } else if (ev.altKey && !ev.ctrlKey && !ev.metaKey && ev.code === "KeyN") {
        ev.preventDefault();
        this.go("#/chat");
        this.chat.focusComposer();
      } else if (ev.key === "/" && !typing && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
        if (!$("view-chat").hidden) {
          ev.preventDefault();
          this.chat.focusComposer();
        }
      }
    });
    // Links in the sidebar close it on a phone (hashchange does too, but not for the current link).
    $("sidebar").addEventListener("click", (ev) => {
      if (ev.target.closest("a")) this.closeSidebar();
    });
  }
}

const app = new App();
app.start();
