// Step 2: the campaign brief; the API's validation errors land next to the field they name.

import { get } from "./api.js";
import { $, clearErrors, el, showError, status } from "./dom.js";

const TRAITS = ["spend_tier", "recency_days", "orders_per_year"];
let stored = [];
let brand = null;

/** Wire the brief form; `generate(body)` runs the generation and rejects with an ApiError. */
export function setupBrief(generate) {
  $("#brief-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    clearErrors(form);
    if (!brand) {
      showError(form, { field: "brief", message: "choose or read a brand first" });
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await generate({ brand_id: brand.id, brief: readBrief() });
    } catch (error) {
      showError(form, error, "brief");
    } finally {
      submit.disabled = false;
    }
  });
}

/** The brand the brief is for; suggests its website as the call-to-action URL. */
export function useBrand(chosen) {
  brand = chosen;
  $("#brief-brand").textContent = `For the brand ${chosen.name}.`;
  const cta = $("#cta-url");
  if (!cta.value && chosen.kit.website) cta.value = chosen.kit.website;
}

/** List the workspace's stored segments as check boxes. */
export async function loadSegments() {
  stored = await get("/v1/segments");
  const box = $("#stored-segments");
  box.replaceChildren(
    ...stored.map((segment, i) =>
      el(
        "div",
        { class: "check" },
        el("input", { type: "checkbox", id: `segment-${i}`, value: segment.name }),
        el("label", { for: `segment-${i}` }, segment.description ? `${segment.name} — ${segment.description}` : segment.name),
      ),
    ),
  );
  if (!stored.length) box.replaceChildren(el("p", { class: "help" }, "No stored segments in this workspace: type them below."));
}

function lines(text) {
  return text.split("\n").map((s) => s.trim()).filter(Boolean);
}

function typedSegments() {
  return lines($("#typed-segments").value).map((line) => {
    const at = line.indexOf(":");
    return at < 0 ? { name: line } : { name: line.slice(0, at).trim(), description: line.slice(at + 1).trim() };
  });
}

function storedSegments() {
  return [...$("#stored-segments").querySelectorAll("input:checked")].map((box) => {
    const segment = stored.find((s) => s.name === box.value);
    const traits = Object.fromEntries(TRAITS.filter((t) => segment.traits[t] !== undefined).map((t) => [t, segment.traits[t]]));
    return { name: segment.name, description: segment.description, traits };
  });
}

/** The brief as the API takes it; empty optional fields are left out. */
export function readBrief() {
  const brief = {
    goal: $("#goal").value.trim(),
    cta_url: $("#cta-url").value.trim(),
    segments: [...storedSegments(), ...typedSegments()],
    variants_per_segment: Number($("#variants-per-segment").value),
    constraints: lines($("#constraints").value),
  };
  const offer = $("#offer").value.trim();
  if (offer) brief.offer = offer;
  const sendDate = $("#send-date").value;
  if (sendDate) brief.send_date = sendDate;
  status("Sending the brief…");
  return brief;
}
