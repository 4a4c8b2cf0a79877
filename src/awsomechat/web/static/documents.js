// Documents (admins): upload with drag and drop, attributes and groups, upload progress then the
// ingestion job polled until final, with a status per file; the document list with search and delete.

import { describeError } from "./api.js";
import { openDocument } from "./citations.js";
import { confirmDialog, formatBytes, formatDate, h, icon, iconButton, toast } from "./dom.js";

const FINAL = new Set(["succeeded", "failed", "partial"]);
const FILE_STATUS = {
  queued: "Waiting",
  uploading: "Uploading",
  added: "Added",
  updated: "Updated",
  unchanged: "Unchanged",
  failed: "Failed",
  rejected: "Not accepted",
};

/** "key=value" lines into an object; returns {value} or {error}. */
export function parseAttributes(text) {
  const out = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i].trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { error: `Line ${i + 1}: write attributes as key=value (got “${line}”).` };
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) {
      return { error: `Line ${i + 1}: the key “${key}” may only use letters, digits, “_”, “-” and “.”.` };
    }
    out[key] = line.slice(eq + 1).trim();
  }
  return { value: out };
}

export class DocumentsView {
  constructor({ api, app }) {
    this.api = api;
    this.app = app;
    this.files = []; // {file, status, detail}
    this.busy = false;
    this.query = "";
    this.nextOffset = null;
    this.searchTimer = 0;

    this.drop = document.getElementById("dropzone");
    this.picker = document.getElementById("file-input");
    this.fileList = document.getElementById("upload-files");
    this.form = document.getElementById("upload-form");
    this.attrs = document.getElementById("upload-attributes");
    this.groups = document.getElementById("upload-groups");
    this.collection = document.getElementById("upload-collection");
    this.submit = document.getElementById("upload-submit");
    this.progress = document.getElementById("upload-progress");
    this.progressBar = this.progress.querySelector("progress");
    this.progressText = this.progress.querySelector(".progress-label");
    this.formError = document.getElementById("upload-error");
    this.limits = document.getElementById("upload-limits");
    this.search = document.getElementById("doc-search");
    this.table = document.getElementById("doc-rows");
    this.docStatus = document.getElementById("doc-status");
    this.docMore = document.getElementById("doc-more");

    document.getElementById("choose-files").addEventListener("click", () => this.picker.click());
    this.picker.addEventListener("change", () => {
      this.addFiles([...this.picker.files]);
      this.picker.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      this.drop.addEventListener(type, (ev) => {
        ev.preventDefault();
        this.drop.classList.add("over");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      this.drop.addEventListener(type, () => this.drop.classList.remove("over"));
    }
    this.drop.addEventListener("drop", (ev) => {
      ev.preventDefault();
      this.addFiles([...(ev.dataTransfer?.files || [])]);
    });
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.upload();
    });
    this.search.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.loadDocuments(0), 250);
    });
    this.docMore.addEventListener("click", () => this.loadDocuments(this.nextOffset));
  }

  get limitsInfo() {
    const info = this.app.info || {};
    return {
      exts: (info.upload_extensions || []).map((e) => e.toLowerCase()),
      maxMb: info.max_upload_mb || 50,
      maxFiles: info.max_upload_files || 20,
    };
  }

  show() {
    const { exts, maxMb, maxFiles } = this.limitsInfo;
    this.limits.textContent = `${exts.length ? exts.join(" ") : "Any supported type"} · up to ${maxMb} MB each · ${
      maxFiles} files at a time`;
    if (exts.length) this.picker.setAttribute("accept", exts.join(","));
    this.loadDocuments(0);
  }

  /** Check type and size here too, so a person learns before uploading which file cannot go. */
  addFiles(files) {
    if (this.busy) return;
    if (this.files.some((f) => f.status !== "queued" && f.status !== "rejected")) this.files = [];
    const { exts, maxMb } = this.limitsInfo;
    for (const file of files) {
      if (this.files.some((f) => f.file.name === file.name && f.file.size === file.size)) continue;
      const ext = file.name.includes(".") ? file.name.slice(file.name.lastIndexOf(".")).toLowerCase() : "";
      let status = "queued";
      let detail = "";
      if (exts.length && !exts.includes(ext)) {
        status = "rejected";
        detail = `This type is not supported (use ${exts.join(", ")}).`;
      } else if (file.size > maxMb * 1024 * 1024) {
        status = "rejected";
        detail = `Larger than ${maxMb} MB.`;
      } else if (file.size === 0) {
        status = "rejected";
        detail = "The file is empty.";
      }
      this.files.push({ file, status, detail });
    }
    this.formError.textContent = "";
    this.renderFiles();
  }

  renderFiles() {
    this.fileList.replaceChildren(...this.files.map((f, i) => h("li", { class: `upload-file status-${f.status}` },
      icon(f.status === "failed" || f.status === "rejected" ? "alert" : f.status === "queued" ? "doc" : "check"),
      h("span", { class: "file-name" }, f.file.name),
      h("span", { class: "file-size" }, formatBytes(f.file.size)),
      h("span", { class: "file-status" }, FILE_STATUS[f.status] || f.status),
      f.detail ? h("span", { class: "file-detail" }, f.detail) : null,
      !this.busy && (f.status === "queued" || f.status === "rejected")
        ? iconButton("x", `Remove ${f.file.name}`, { onclick: () => {
          this.files.splice(i, 1);
          this.renderFiles();
          this.drop.querySelector("button").focus();
        } }) : null)));
    const ready = this.files.filter((f) => f.status === "queued").length;
    this.submit.disabled = this.busy || ready === 0;
    this.submit.querySelector("span").textContent = ready > 1 ? `Upload ${ready} files` : "Upload";
  }

  async upload() {
    const ready = this.files.filter((f) => f.status === "queued");
    if (!ready.length || this.busy) return;
    const { maxFiles } = this.limitsInfo;
    if (ready.length > maxFiles) {
      this.formError.textContent = `At most ${maxFiles} files at a time; remove ${ready.length - maxFiles}.`;
      return;
    }
    const attrs = parseAttributes(this.attrs.value);
    if (attrs.error) {
      this.formError.textContent = attrs.error;
      this.attrs.focus();
      return;
    }
    const groups = this.groups.value.split(",").map((g) => g.trim()).filter(Boolean);
    const data = new FormData();
    for (const f of ready) data.append("files", f.file, f.file.name);
    if (Object.keys(attrs.value).length) data.append("attributes", JSON.stringify(attrs.value));
    if (groups.length) data.append("groups", groups.join(","));
    if (this.collection.value.trim()) data.append("collection", this.collection.value.trim());

    this.files = ready.map((f) => ({ ...f, status: "uploading", detail: "" }));
    this.busy = true;
    this.formError.textContent = "";
    this.progress.hidden = false;
    this.progress.classList.remove("has-errors");
    this.setProgress(0, "Uploading…");
    this.renderFiles();
    let job = null;
    try {
      job = await this.api.upload(data, {
        onProgress: (loaded, total) => this.setProgress(loaded / total,
          `Uploading… ${formatBytes(loaded)} of ${formatBytes(total)}`),
      });
    } catch (err) {
      // 413/415 name the offending file in `detail`: mark that one, keep the others ready to retry.
      const named = this.files.filter((f) => err.detail && err.detail.includes(f.file.name));
      this.files = this.files.map((f) => (named.includes(f)
        ? { ...f, status: "rejected", detail: err.detail }
        : { ...f, status: "queued", detail: named.length ? "Not uploaded: remove the refused file and upload again."
          : "Not uploaded." }));
      this.formError.textContent = describeError(err);
      this.progress.hidden = true;
      if (err.kind === "network" || err.kind === "rate" || err.kind === "busy") this.app.handleError(err);
    }
    if (job) {
      this.setProgress(1, "Uploaded. Processing…");
      try {
        await this.follow(job);
      } catch (err) {
        this.setProgress(1, `Could not follow the processing: ${describeError(err)}`);
        this.progress.classList.add("has-errors");
      }
    }
    this.busy = false;
    this.renderFiles();
  }

  setProgress(fraction, label) {
    this.progressBar.value = Math.round(fraction * 100);
    this.progressText.textContent = label;
  }

  /** Poll the job until it is final, updating each file's status. */
  async follow(job) {
    for (;;) {
      this.applyJob(job);
      if (FINAL.has(job.status)) break;
      await new Promise((r) => setTimeout(r, 700));
      job = await this.api.job(job.id);
    }
    const failed = job.files.filter((f) => f.status === "failed").length;
    const summary = job.status === "succeeded" ? `Done: ${job.total} file${job.total === 1 ? "" : "s"} processed.`
      : job.status === "partial" ? `Done with problems: ${failed} of ${job.total} files failed.`
        : `The upload failed${job.error ? `: ${job.error}` : "."}`;
    this.setProgress(1, summary);
    this.progress.classList.toggle("has-errors", job.status !== "succeeded");
    toast(summary);
    this.loadDocuments(0);
  }

  applyJob(job) {
    const byName = new Map(job.files.map((f) => [f.name, f]));
    this.files = this.files.map((f) => {
      const jf = byName.get(f.file.name);
      return jf ? { ...f, status: jf.status, detail: jf.detail || "" } : f;
    });
    if (!FINAL.has(job.status)) {
      this.setProgress(job.total ? job.done / job.total : 1, `Processing… ${job.done} of ${job.total} files`);
    }
    this.renderFiles();
  }

  async loadDocuments(offset) {
    const q = this.search.value.trim();
    this.docStatus.textContent = "Loading…";
    try {
      const data = await this.api.documents({ q, offset, limit: 25 });
      if (offset === 0) this.table.replaceChildren();
      this.table.append(...data.documents.map((d) => this.row(d)));
      this.nextOffset = data.next_offset ?? null;
      this.docMore.hidden = this.nextOffset === null;
      const shown = this.table.children.length;
      this.docStatus.textContent = shown ? `${shown}${this.nextOffset !== null ? "+" : ""} document${
        shown === 1 ? "" : "s"}${q ? ` matching “${q}”` : ""}` : q ? `No documents match “${q}”.`
        : "No documents yet. Upload some above.";
    } catch (err) {
      this.docStatus.textContent = describeError(err);
      if (err.kind !== "auth") this.app.handleError(err, { inline: true });
    }
  }

  row(d) {
    const attrs = Object.entries(d.attributes || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    return h("tr", {},
      h("th", { scope: "row" },
        h("button", { type: "button", class: "link-btn", onclick: () => openDocument(this.api, d.id) },
          d.title || "Untitled"),
        h("span", { class: "doc-uri" }, d.uri)),
      h("td", {}, d.source),
      h("td", {}, d.format),
      h("td", { class: "num" }, String(d.passages)),
      h("td", {}, d.groups.length ? d.groups.join(", ") : h("span", { class: "muted" }, "everyone")),
      h("td", { class: "attrs" }, attrs.join(", ")),
      h("td", {}, formatDate(d.updated_at)),
      h("td", {}, iconButton("trash", `Delete ${d.title || "document"}`, { onclick: (ev) => this.remove(d, ev) })));
  }

  async remove(d, ev) {
    const row = ev.currentTarget.closest("tr");
    const ok = await confirmDialog({
      title: "Delete document?",
      message: `“${d.title || d.uri}” and its ${d.passages} passages will be removed from the index.`,
      confirmLabel: "Delete", danger: true,
    });
    if (!ok) return;
    try {
      await this.api.deleteDocument(d.id);
      row.remove();
      toast("Document deleted");
      this.search.focus();
    } catch (err) {
      this.app.handleError(err);
    }
  }

  reset() {
    this.files = [];
    this.renderFiles();
    this.table.replaceChildren();
    this.progress.hidden = true;
  }
}
