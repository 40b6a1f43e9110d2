// Step 1: a brand from a saved page, a URL or the stored ones; its kit, sources and completeness.

import { get, patch, post } from "./api.js";
import { $, clearErrors, el, showError, status } from "./dom.js";

// The fields a marketer fixes by hand; lists are edited as comma-separated text.
const FIELDS = [
  ["name", "Name", "text"],
  ["tagline", "Tagline", "text"],
  ["description", "Description", "long"],
  ["voice", "Voice (tone words)", "list"],
  ["palette", "Palette (#rrggbb)", "list"],
  ["fonts", "Fonts", "list"],
  ["logo_url", "Logo URL", "text"],
  ["website", "Website", "text"],
  ["address", "Postal address", "text"],
  ["allowed_domains", "Allowed link domains", "list"],
  ["emails", "Contact e-mails", "list"],
  ["phones", "Phones", "list"],
];

let current = null;
let onChosen = () => {};

/** Wire the brand step; `chosen(brand)` is called whenever a brand is read, opened or saved. */
export function setupBrand(chosen) {
  onChosen = chosen;
  $("#brand-upload").addEventListener("submit", upload);
  $("#brand-fetch").addEventListener("submit", fetchFromUrl);
  $("#brand-pick").addEventListener("submit", pick);
  $("#brand-kit").addEventListener("submit", save);
}

/** Fill the stored-brands list of this workspace. */
export async function loadBrands() {
  const select = $("#brand-select");
  const brands = await get("/v1/brands");
  select.replaceChildren(
    ...(brands.length ? brands.map((b) => el("option", { value: b.id }, b.name)) : [el("option", { value: "" }, "No brands yet")]),
  );
  return brands;
}

async function upload(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const file = $("#brand-file").files[0];
  if (!file) {
    showError(form, { field: "file", message: "choose the brand's saved web page" });
    return;
  }
  const data = new FormData();
  data.append("file", file);
  const url = $("#brand-page-url").value.trim();
  if (url) data.append("url", url);
  await created(form, () => post("/v1/brands/from-html", data));
}

async function fetchFromUrl(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  await created(form, () => post("/v1/brands/from-url", { url: $("#brand-url").value.trim() }));
}

async function created(form, request) {
  status("Reading the brand…");
  try {
    const brand = await request();
    show(brand);
    await loadBrands();
    $("#brand-select").value = brand.id;
    status(`Read the brand ${brand.name}.`);
  } catch (error) {
    showError(form, error, "file");
  }
}

async function pick(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const id = $("#brand-select").value;
  if (!id) return;
  try {
    show(await get(`/v1/brands/${encodeURIComponent(id)}`));
  } catch (error) {
    showError(form, error);
  }
}

function valueText(kit, name, kind) {
  const value = kit[name];
  if (kind === "list") return (value || []).join(", ");
  return value || "";
}

function sourceText(kit, name) {
  const source = (kit.sources || {})[name];
  if (!source) return kit[name] && kit[name].length ? "given" : "not found";
  return source.detail ? `${source.source} (${source.detail})` : source.source;
}

function show(brand) {
  current = brand;
  const kit = brand.kit;
  const rows = FIELDS.map(([name, label, kind]) => {
    const id = `kit-${name}`;
    const input =
      kind === "long"
        ? el("textarea", { id, name, rows: 3, "aria-describedby": `${id}-source ${id}-error` }, valueText(kit, name, kind))
        : el("input", { id, name, value: valueText(kit, name, kind), "aria-describedby": `${id}-source ${id}-error` });
    return el(
      "tr",
      { "data-field": name },
      el("th", { scope: "row" }, el("label", { for: id }, label)),
      el("td", {}, input, el("p", { id: `${id}-error`, class: "error", "data-field-error": `kit.${name}` })),
      el("td", { id: `${id}-source`, class: "source" }, sourceText(kit, name)),
    );
  });
  const products = kit.products || [];
  rows.push(
    el(
      "tr",
      {},
      el("th", { scope: "row" }, "Products"),
      el("td", {}, products.length ? products.map((p) => (p.price ? `${p.name} (${p.price})` : p.name)).join("; ") : "none found"),
      el("td", { class: "source" }, sourceText(kit, "products")),
    ),
  );
  $("#kit-rows").replaceChildren(...rows);
  showCompleteness(brand.completeness);
  $("#brand-kit").hidden = false;
  onChosen(brand);
}

function showCompleteness(report) {
  const box = $("#completeness");
  const pct = Math.round(report.score * 100);
  const parts = [
    el("p", {}, el("strong", {}, `Complete: ${pct}%`), report.complete ? " — nothing missing." : ""),
    report.missing.length ? el("p", {}, `Missing: ${report.missing.join(", ")}`) : null,
    report.warnings.length ? el("ul", { class: "warnings" }, report.warnings.map((w) => el("li", {}, w))) : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
}

function parsed(kind, text) {
  if (kind !== "list") return text.trim() || (kind === "text" ? null : "");
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

async function save(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  if (!current) return;
  const changes = {};
  const sources = { ...(current.kit.sources || {}) };
  for (const [name, , kind] of FIELDS) {
    const text = $(`#kit-${name}`).value;
    if (text === valueText(current.kit, name, kind)) continue;
    let value = parsed(kind, text);
    if (name === "name" || name === "tagline" || name === "description") value = value || "";
    changes[name] = value;
    sources[name] = { source: "user", detail: "edited in the web app" };
  }
  if (!Object.keys(changes).length) {
    status("Nothing changed in the brand kit.");
    return;
  }
  try {
    const brand = await patch(`/v1/brands/${encodeURIComponent(current.id)}`, { kit: { ...changes, sources } });
    show(brand);
    await loadBrands();
    $("#brand-select").value = brand.id;
    status(`Saved the brand kit of ${brand.name}.`);
  } catch (error) {
    showError(form, error, "kit");
  }
}
