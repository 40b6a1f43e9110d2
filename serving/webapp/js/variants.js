// Step 3: generation progress from the event stream, then each variant per segment with its
// previews, gates, score and reasons, and the marketer's verdicts sent as feedback.

import { post, streamGeneration } from "./api.js";
import { $, el, status } from "./dom.js";
import { card } from "./variant_card.js";

let lastRequest = null;
const accepted = new Map(); // variant id -> {id, segment, subject}
let onAccepted = () => {};

/** Wire the variants step; `acceptedChanged(list)` hears of every accept. */
export function setupVariants(acceptedChanged) {
  onAccepted = acceptedChanged;
  document.addEventListener("keydown", shortcut);
}

/** Generate for `body` ({brand_id, brief}), streaming the progress and variants into the page. */
export async function generate(body) {
  lastRequest = body;
  $("#segments").replaceChildren();
  $("#progress").replaceChildren();
  const stored = await run(body);
  location.hash = "#variants";
  $("#variants-title").focus();
  return stored;
}

async function run(body) {
  const generation = await streamGeneration(body, (name, data) => {
    if (name === "started") data.segments.forEach((s) => segmentBox(s, true));
    else if (name === "progress") progress(data);
    else if (name === "variant") pending(data);
  });
  for (const [segment, variants] of Object.entries(generation.variants)) {
    const box = segmentBox(segment, true);
    const list = box.querySelector(".cards");
    list.replaceChildren(...variants.map((v) => card(v, verdict)));
    const note = generation.stats.shortfall_reasons?.[segment];
    box.querySelector(".note").textContent = note || `${variants.length} variant${variants.length === 1 ? "" : "s"} ready.`;
  }
  status(`Generated ${Object.values(generation.variants).flat().length} variants.`);
  return generation;
}

function segmentId(name) {
  return `segment-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function segmentBox(name, keep) {
  let box = document.getElementById(segmentId(name));
  if (box && keep) return box;
  const regenerate = el("button", { type: "button", class: "secondary", onclick: () => regenerateSegment(name) }, `Regenerate ${name}`);
  box = el(
    "section",
    { id: segmentId(name), class: "segment", "aria-labelledby": `${segmentId(name)}-title` },
    el("h3", { id: `${segmentId(name)}-title` }, `Segment ${name}`),
    el("p", { class: "note" }, "Waiting for the model…"),
    regenerate,
    el("div", { class: "cards" }),
  );
  $("#segments").append(box);
  return box;
}

function progress(data) {
  const line = el("p", {}, `${data.segment}: ${data.message} (${data.candidates} candidates)`);
  $("#progress").replaceChildren(line);
  const box = segmentBox(data.segment, true);
  box.querySelector(".note").textContent = data.message;
}

function pending(variant) {
  const list = segmentBox(variant.segment, true).querySelector(".cards");
  list.append(card({ ...variant, id: null }, verdict));
}

async function regenerateSegment(name) {
  if (!lastRequest) return;
  const segment = lastRequest.brief.segments.find((s) => s.name === name);
  const body = { ...lastRequest, brief: { ...lastRequest.brief, segments: [segment] } };
  const box = segmentBox(name, true);
  box.querySelector(".cards").replaceChildren();
  box.querySelector(".note").textContent = "Regenerating…";
  status(`Regenerating ${name}…`);
  try {
    await run(body);
  } catch (error) {
    box.querySelector(".note").textContent = `${error.field ? `${error.field}: ` : ""}${error.message}`;
    status(error.message);
  }
}

function newKey(kind, id) {
  const random = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return `web-${kind}-${id}-${random}`;
}

/** Send one verdict on a stored variant as feedback. */
async function verdict(variant, kind, extra = {}) {
  const event = {
    idempotency_key: newKey(kind, variant.id),
    variant_id: variant.id,
    kind,
    event_time: new Date().toISOString(),
    ...extra,
  };
  await post("/v1/feedback", event);
  if (kind === "accept") accepted.set(variant.id, { id: variant.id, segment: variant.segment, subject: variant.draft.subject });
  if (kind === "reject") accepted.delete(variant.id);
  onAccepted([...accepted.values()]);
}

function shortcut(event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  const cards = [...document.querySelectorAll(".variant[data-id]")];
  const current = event.target.closest(".variant[data-id]");
  if (event.key === "j" || event.key === "k") {
    const at = current ? cards.indexOf(current) : -1;
    const next = cards[event.key === "j" ? at + 1 : Math.max(at - 1, 0)];
    if (next) {
      next.focus();
      event.preventDefault();
    }
    return;
  }
  if (!current) return;
  const action = { a: "accept", r: "reject", e: "edit" }[event.key];
  if (!action) return;
  event.preventDefault();
  current.querySelector(`[data-action="${action}"]`).click();
}
