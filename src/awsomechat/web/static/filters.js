// Restrict questions to some sources or attribute values. Choices come from GET /v1/facets (only
// documents the caller may see); the result is a list of API filters ANDed by the server.

import { describeError } from "./api.js";
import { h, icon, modal } from "./dom.js";

const MAX_VALUES = 50;

export class FiltersControl {
  constructor({ api, button, chips }) {
    this.api = api;
    this.button = button;
    this.chips = chips;
    this.selected = new Map(); // field -> array of values ("source" or "attributes.<key>")
    this.button.addEventListener("click", () => this.open());
    this.render();
  }

  /** The filters for POST /v1/chat. */
  value() {
    return [...this.selected.entries()].filter(([, values]) => values.length)
      .map(([field, values]) => (values.length === 1
        ? { field, op: "eq", value: values[0] } : { field, op: "in", value: values }));
  }

  reset() {
    this.selected.clear();
    this.render();
  }

  render() {
    const active = this.value();
    const count = active.reduce((n, f) => n + (Array.isArray(f.value) ? f.value.length : 1), 0);
    this.button.classList.toggle("active", count > 0);
    this.button.setAttribute("aria-label", count ? `Filters (${count} active)` : "Filters");
    this.button.querySelector(".badge-count").textContent = count ? String(count) : "";
    this.chips.replaceChildren(...active.map((f) => {
      const label = `${fieldLabel(f.field)}: ${(Array.isArray(f.value) ? f.value : [f.value]).join(", ")}`;
      return h("li", { class: "chip" }, h("span", {}, label),
        h("button", { type: "button", class: "chip-x", "aria-label": `Remove filter ${label}`,
          onclick: () => {
            this.selected.delete(f.field);
            this.render();
            this.button.focus();
          } }, icon("x")));
    }));
    this.chips.hidden = active.length === 0;
  }

  async open() {
    await modal({
      title: "Filter sources",
      className: "filters-dialog",
      build: (close) => {
        const body = h("form", { class: "modal-body", "aria-busy": "true" },
          h("p", { class: "muted" }, "Loading the available sources…"));
        this.api.facets().then((facets) => this.fill(body, facets, close)).catch((err) => {
          body.replaceChildren(h("p", { class: "error-text", role: "alert" }, describeError(err)));
          body.setAttribute("aria-busy", "false");
        });
        return body;
      },
    });
    this.render();
  }

  fill(form, facets, close) {
    const groups = [];
    const sources = (facets.sources || []).slice(0, MAX_VALUES);
    if (sources.length) groups.push(["source", "Sources", sources]);
    for (const [key, values] of Object.entries(facets.attributes || {}).sort()) {
      if (values.length) groups.push([`attributes.${key}`, key, values.slice(0, MAX_VALUES)]);
    }
    const draft = new Map([...this.selected.entries()].map(([k, v]) => [k, [...v]]));
    const fieldsets = groups.map(([field, legend, values], gi) => h("fieldset", { class: "facet" },
      h("legend", {}, legend),
      h("div", { class: "facet-values" }, values.map((v, vi) => {
        const id = `facet-${gi}-${vi}`;
        const current = draft.get(field) || [];
        const input = h("input", { type: "checkbox", id, checked: current.some((x) => same(x, v.value)),
          onchange: () => {
            const list = (draft.get(field) || []).filter((x) => !same(x, v.value));
            if (input.checked) list.push(v.value);
            draft.set(field, list);
          } });
        return h("div", { class: "facet-value" }, input,
          h("label", { for: id }, h("span", {}, String(v.value)), h("span", { class: "count" }, String(v.count))));
      }))));
    if (!groups.length) {
      fieldsets.push(h("p", { class: "muted" }, "There are no documents to filter yet."));
    }
    form.replaceChildren(
      h("p", { class: "muted" }, "Only passages matching every checked group are used. Within a group, any checked value matches."),
      h("div", { class: "facets" }, fieldsets),
      h("div", { class: "modal-actions" },
        h("button", { type: "button", class: "btn", onclick: () => {
          this.selected.clear();
          close(true);
        } }, "Clear all"),
        h("button", { type: "submit", class: "btn btn-primary" }, "Apply")));
    form.onsubmit = (ev) => {
      ev.preventDefault();
      this.selected = new Map([...draft.entries()].filter(([, v]) => v.length));
      close(true);
    };
    form.setAttribute("aria-busy", "false");
    form.querySelector("input")?.focus();
  }
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function fieldLabel(field) {
  return field === "source" ? "Source" : field.replace(/^attributes\./, "");
}
