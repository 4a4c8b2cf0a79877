// The REST API client: bearer auth, RFC 9457 problem details turned into ApiError, the chat stream
// (fetch + a Server-Sent Events parser: EventSource can neither POST nor send headers), and uploads
// with progress (XMLHttpRequest: fetch has no upload progress events).

// Where the API lives: the same origin by default. To deploy the UI on its own (any static web
// server), set <meta name="awsomechat-api" content="https://chat-api.example.com"> in index.html
// and allow that UI's origin on the API (AWSOMECHAT_API__CORS_ORIGINS).
const API_BASE = (document.querySelector('meta[name="awsomechat-api"]')?.content || "").replace(/\/+$/, "");

export class ApiError extends Error {
  /**
   * kind: "network" (no answer at all), "auth" (401), "forbidden" (403), "rate" (429),
   * "busy" (503), "http" (any other status), "stream" (the answer stream failed or was cut).
   */
  constructor({ kind, status = 0, title = "", detail = "", retryAfter = null, errors = [], requestId = "",
    code = "" }) {
    super(detail || title || `HTTP ${status}`);
    Object.assign(this, { kind, status, title, detail, retryAfter, errors, requestId, code });
  }

  /** One sentence a person can act on. */
  get userMessage() {
    return describeError(this);
  }
}

function kindOf(status) {
  if (status === 401) return "auth";
  if (status === 403) return "forbidden";
  if (status === 429) return "rate";
  if (status === 503) return "busy";
  return "http";
}

function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Build an ApiError from a status, the response text and a header getter. */
export function problemFrom(status, text, getHeader) {
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = {};
  }
  if (typeof body !== "object" || body === null) body = {};
  let detail = typeof body.detail === "string" ? body.detail : "";
  if (!detail && Array.isArray(body.detail)) {
    detail = body.detail.map((e) => e.msg || String(e)).join("; ");
  }
  const retryAfter = Number.isFinite(body.retry_after) ? body.retry_after
    : parseRetryAfter(getHeader("Retry-After"));
  return new ApiError({
    kind: kindOf(status), status, title: body.title || "", detail, retryAfter,
    errors: Array.isArray(body.errors) ? body.errors : [], requestId: body.request_id || "",
  });
}

export function describeError(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  const fieldErrors = err.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join("; ");
  const detail = [err.detail, fieldErrors].filter(Boolean).join(" — ");
  const wait = err.retryAfter ? ` Try again in ${formatWait(err.retryAfter)}.` : " Try again in a moment.";
  switch (err.kind) {
    case "network":
      return "Cannot reach the server. Check your connection and that AWSomeChat is running, then try again.";
    case "auth":
      return detail || "Your API key was not accepted.";
    case "forbidden":
      return detail || "You are not allowed to do that.";
    case "rate":
      return `Too many requests.${wait}`;
    case "busy":
      // The server's detail may end in its own "try again shortly": the wait below says it better.
      return `The server cannot answer right now${detail
        ? `: ${detail.replace(/[;,.]?\s*try again[^.;]*[.\s]*$/i, "").replace(/[.\s]+$/, "")}` : ""}.${wait}`;
    case "stream":
      return detail || "The answer stopped unexpectedly.";
    default:
      return detail || err.title || `The server answered with an error (HTTP ${err.status}).`;
  }
}

export function formatWait(seconds) {
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return s ? `${m} min ${s} s` : `${m} min`;
}

const networkError = () => new ApiError({ kind: "network", title: "Network error" });

export { API_BASE };

export class Api {
  /**
   * getKey(): the current API key or "" (local mode, or a single sign-on session cookie);
   * getCsrf(): the session's CSRF token or "", sent with every change; onUnauthorized(err): called
   * on any 401 except the sign-in check itself.
   */
  constructor({ getKey, getCsrf = () => "", onUnauthorized }) {
    this.getKey = getKey;
    this.getCsrf = getCsrf;
    this.onUnauthorized = onUnauthorized;
  }

  /** The CSRF header for a change made with the session cookie (none with an API key). */
  csrfHeader(method, key) {
    const token = key ? "" : this.getCsrf();
    return token && !["GET", "HEAD", "OPTIONS"].includes(method) ? token : "";
  }

  headers(extra = {}, key = this.getKey()) {
    const headers = new Headers(extra);
    if (key) headers.set("Authorization", `Bearer ${key}`);
    return headers;
  }

  async fetch(path, { method = "GET", json, body, signal, headers = {}, key, quiet401 = false } = {}) {
    const h = this.headers({ Accept: "application/json, application/problem+json", ...headers },
      key === undefined ? this.getKey() : key);
    if (json !== undefined) {
      h.set("Content-Type", "application/json");
      body = JSON.stringify(json);
    }
    const csrf = this.csrfHeader(method, h.get("Authorization"));
    if (csrf) h.set("X-CSRF-Token", csrf);
    let res;
    try {
      res = await fetch(API_BASE + path, { method, headers: h, body, signal, cache: "no-store" });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw networkError();
    }
    if (!res.ok) {
      const err = problemFrom(res.status, await res.text().catch(() => ""), (n) => res.headers.get(n));
      if (err.kind === "auth" && !quiet401 && this.onUnauthorized) this.onUnauthorized(err);
      throw err;
    }
    return res;
  }

  async json(path, options) {
    const res = await this.fetch(path, options);
    if (res.status === 204) return null;
    return res.json();
  }

  info() { return this.json("/v1/info", { key: "" }); }
  me(key) { return this.json("/v1/me", { key, quiet401: key !== undefined }); }
  authConfig() { return this.json("/auth/config", { key: "" }); }
  session() { return this.json("/auth/session", { key: "", quiet401: true }); }
  logout() { return this.json("/auth/logout", { method: "POST", key: "", quiet401: true }); }
  sessions(offset = 0, limit = 50) { return this.json(`/v1/sessions?limit=${limit}&offset=${offset}`); }
  messages(id) { return this.json(`/v1/sessions/${encodeURIComponent(id)}/messages`); }
  renameSession(id, title) {
    return this.json(`/v1/sessions/${encodeURIComponent(id)}`, { method: "PATCH", json: { title } });
  }
  deleteSession(id) { return this.json(`/v1/sessions/${encodeURIComponent(id)}`, { method: "DELETE" }); }
  feedback(messageId, rating, comment) {
    return this.json(`/v1/messages/${encodeURIComponent(messageId)}/feedback`,
      { method: "POST", json: { rating, comment } });
  }
  facets() { return this.json("/v1/facets"); }
  documents({ q = "", offset = 0, limit = 25 } = {}) {
    const params = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (q) params.set("q", q);
    return this.json(`/v1/documents?${params}`);
  }
  document(id) { return this.json(`/v1/documents/${encodeURIComponent(id)}?passages=true`); }
  deleteDocument(id) { return this.json(`/v1/documents/${encodeURIComponent(id)}`, { method: "DELETE" }); }
  job(id) { return this.json(`/v1/jobs/${encodeURIComponent(id)}`); }

  /**
   * Ask a question and stream the answer. onEvent(type, data) is called for question, sources,
   * token and final events. Resolves with the final ChatOut; rejects with ApiError (HTTP problems,
   * an `error` event, a cut stream) or an AbortError when `signal` aborts (the server then stops).
   */
  async chat(body, { signal, onEvent }) {
    const res = await this.fetch("/v1/chat", {
      method: "POST", json: { ...body, stream: true }, signal,
      headers: { Accept: "text/event-stream, application/json, application/problem+json" },
    });
    const type = res.headers.get("Content-Type") || "";
    if (!type.includes("text/event-stream")) {
      const final = await res.json();
      onEvent("final", final);
      return final;
    }
    let final = null;
    try {
      for await (const { event, data } of readEvents(res.body)) {
        let payload;
        try {
          payload = data ? JSON.parse(data) : {};
        } catch {
          continue; // a keep-alive or a line we do not understand
        }
        if (event === "error") {
          throw new ApiError({ kind: "stream", code: payload.code || "", detail: payload.message || "" });
        }
        onEvent(event, payload);
        if (event === "final") {
          // The turn is stored before `final` is sent: nothing useful follows, so do not wait
          // for the connection to close (a buffering proxy may hold it open).
          final = payload;
          break;
        }
      }
    } catch (err) {
      if (err instanceof ApiError || (err && err.name === "AbortError")) throw err;
      if (signal && signal.aborted) throw new DOMException("Aborted", "AbortError");
      throw networkError();
    }
    if (!final) {
      throw new ApiError({ kind: "stream", detail: "The connection closed before the answer was complete." });
    }
    return final;
  }

  /** POST /v1/documents with upload progress: onProgress(loaded, total). Resolves with the Job. */
  upload(formData, { onProgress, signal } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", API_BASE + "/v1/documents");
      const key = this.getKey();
      if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
      const csrf = this.csrfHeader("POST", key);
      if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json, application/problem+json");
      xhr.upload.addEventListener("progress", (ev) => {
        if (ev.lengthComputable && onProgress) onProgress(ev.loaded, ev.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          try {
            resolve(JSON.parse(xhr.responseText));
          } catch {
            reject(new ApiError({ kind: "http", status: xhr.status, detail: "Unexpected answer to the upload." }));
          }
          return;
        }
        const err = problemFrom(xhr.status, xhr.responseText, (n) => xhr.getResponseHeader(n));
        if (err.kind === "auth" && this.onUnauthorized) this.onUnauthorized(err);
        reject(err);
      });
      xhr.addEventListener("error", () => reject(networkError()));
      xhr.addEventListener("abort", () => reject(new DOMException("Aborted", "AbortError")));
      if (signal) signal.addEventListener("abort", () => xhr.abort());
      xhr.send(formData);
    });
  }
}

/**
 * Parse a text/event-stream body into {event, data} records (the WHATWG rules that matter here:
 * CRLF/LF/CR line ends, "field: value", multi-line data joined with "\n", ":" comments skipped).
 */
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  let data = [];
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      buffer += value;
      // A CR at the very end may be the first half of a CRLF split across chunks: keep it for later.
      let end = buffer.length;
      if (buffer.endsWith("\r")) end -= 1;
      const lines = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(end);
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let val = colon === -1 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
      }
    }
    if (data.length) yield { event: event || "message", data: data.join("\n") };
  } finally {
    // Leaving early (an error event, the consumer gave up): close the connection too.
    if (!finished) reader.cancel().catch(() => {});
  }
}
