// One variant: previews in sandboxed frames (no scripts, no same origin), gates, score and
// reasons, and the accept / reject / edit controls.

import { call } from "./api.js";
import { el, status } from "./dom.js";
import { previewHtml } from "./preview.js";

const REASONS = [
  ["off_brand", "Off brand or wrong tone"],
  ["wrong_facts", "Wrong or invented facts"],
  ["weak_copy", "Weak or dull copy"],
  ["too_long", "Too long"],
  ["other", "Other"],
];

const WIDTHS = [
  ["desktop", 640],
  ["mobile", 375],
];

/** The e-mail text fields one per line, as feedback stores an edit. */
export function visibleText(draft) {
  return [draft.subject, draft.preheader, draft.headline, ...draft.body, draft.cta_label].join("\n");
}

function gatesList(gates) {
  return el(
    "ul",
    { class: "gates" },
    gates.map((g) =>
      el(
        "li",
        { class: g.passed ? "pass" : g.severity === "block" ? "block" : "warn" },
        el("span", { class: "mark", "aria-hidden": "true" }, g.passed ? "✓" : "!"),
        ` ${g.gate_id}: `,
        g.passed ? "passed" : `${g.severity === "block" ? "blocked" : "warning"} — ${g.message}`,
        g.evidence && g.evidence.length && !g.passed ? el("span", { class: "evidence" }, ` (${g.evidence.join("; ")})`) : null,
      ),
    ),
  );
}

function previews(variant, label) {
  const frames = WIDTHS.map(([name, width]) => {
    const frame = el("iframe", {
      sandbox: "",
      width,
      height: 640,
      title: `${label} as the subscriber sees it, ${name} width (${width} px)`,
      referrerpolicy: "no-referrer",
    });
    return el("figure", { class: `preview ${name}` }, el("figcaption", {}, `${name} · ${width} px`), el("div", { class: "frame", tabindex: 0, role: "region", "aria-label": `${label}, ${name} preview (scrolls)` }, frame));
  });
  if (variant.id) {
    call("GET", `/v1/variants/${encodeURIComponent(variant.id)}/html`, undefined, { accept: "text/html" })
      .then((html) => frames.forEach((f) => (f.querySelector("iframe").srcdoc = previewHtml(html))))
      .catch((error) => status(`The preview could not be loaded: ${error.message}`));
  }
  return el("div", { class: "previews" }, frames);
}

function rejectForm(variant, send, done) {
  const id = `reject-${variant.id}`;
  const form = el(
    "form",
    { class: "reject", hidden: true, "aria-label": "Reject with a reason" },
    el("label", { for: `${id}-code` }, "Reason"),
    el("select", { id: `${id}-code`, name: "reason" }, REASONS.map(([v, t]) => el("option", { value: v }, t))),
    el("label", { for: `${id}-comment` }, "Comment (optional)"),
    el("input", { id: `${id}-comment`, name: "comment" }),
    el("button", { type: "submit" }, "Send the rejection"),
    el("button", { type: "button", class: "secondary", onclick: () => (form.hidden = true) }, "Cancel"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = form.querySelector("select").value;
    const comment = form.querySelector("input").value.trim();
    const extra = { reason_codes: [code] };
    if (comment) extra.comment = comment;
    if (await send("reject", extra)) {
      form.hidden = true;
      done(`Rejected: ${REASONS.find(([v]) => v === code)[1]}${comment ? ` — ${comment}` : ""}`);
    }
  });
  return form;
}

function editForm(variant, send, done) {
  const id = `edit-${variant.id}`;
  const draft = variant.draft;
  const field = (name, label, value, long) =>
    el(
      "div",
      { class: "field" },
      el("label", { for: `${id}-${name}` }, label),
      long ? el("textarea", { id: `${id}-${name}`, name, rows: 3 }, value) : el("input", { id: `${id}-${name}`, name, value }),
    );
  const form = el(
    "form",
    { class: "edit", hidden: true, "aria-label": "Edit the variant" },
    field("subject", "Subject", draft.subject),
    field("preheader", "Preheader", draft.preheader),
    field("headline", "Headline", draft.headline),
    draft.body.map((p, i) => field(`body-${i}`, `Paragraph ${i + 1}`, p, true)),
    el("button", { type: "submit" }, "Save the edit"),
    el("button", { type: "button", class: "secondary", onclick: () => (form.hidden = true) }, "Cancel"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (name) => form.querySelector(`[name="${name}"]`).value.trim();
    const edited = {
      ...draft,
      subject: value("subject"),
      preheader: value("preheader"),
      headline: value("headline"),
      body: draft.body.map((_, i) => value(`body-${i}`)),
    };
    if (await send("edit", { edited_text: visibleText(edited) })) {
      form.hidden = true;
      variant.draft = edited;
      form.closest(".variant").querySelector(".subject").textContent = edited.subject;
      done("Edited: your version was sent as feedback");
    }
  });
  return form;
}

/** A variant's card; `verdict(variant, kind, extra)` sends feedback (stored variants only). */
export function card(variant, verdict) {
  const label = `${variant.segment} variant ${variant.rank}`;
  const titleId = `v-${variant.id || variant.pipeline_id}-title`;
  const state = el("p", { class: "state", "aria-live": "polite" }, variant.id ? "" : "Ready; storing…");
  const done = (text) => {
    state.textContent = text;
    status(`${label}: ${text}`);
  };
  const send = async (kind, extra) => {
    try {
      await verdict(variant, kind, extra);
      return true;
    } catch (error) {
      done(`not sent — ${error.field ? `${error.field}: ` : ""}${error.message}`);
      return false;
    }
  };
  const node = el(
    "article",
    {
      class: "variant",
      tabindex: variant.id ? 0 : -1,
      "data-id": variant.id,
      "aria-labelledby": titleId,
    },
    el("h4", { id: titleId }, `Variant ${variant.rank}`, el("span", { class: "score" }, ` · score ${variant.score.toFixed(2)}`)),
    el("p", {}, el("strong", {}, "Subject: "), el("span", { class: "subject" }, variant.draft.subject)),
    el("p", { class: "preheader" }, variant.draft.preheader),
    variant.reasons.length ? el("p", { class: "reasons" }, `Why: ${variant.reasons.join("; ")}`) : null,
    el("details", {}, el("summary", {}, `Quality gates (${variant.gates.filter((g) => !g.passed).length} flagged)`), gatesList(variant.gates)),
    state,
  );
  if (!variant.id) return node;
  const reject = rejectForm(variant, send, done);
  const edit = editForm(variant, send, done);
  const actions = el(
    "div",
    { class: "actions" },
    el(
      "button",
      { type: "button", "data-action": "accept", "aria-keyshortcuts": "a", onclick: async () => (await send("accept")) && done("Accepted") },
      "Accept",
    ),
    el(
      "button",
      {
        type: "button",
        class: "secondary",
        "data-action": "reject",
        "aria-keyshortcuts": "r",
        onclick: () => {
          reject.hidden = false;
          reject.querySelector("select").focus();
        },
      },
      "Reject…",
    ),
    el(
      "button",
      {
        type: "button",
        class: "secondary",
        "data-action": "edit",
        "aria-keyshortcuts": "e",
        onclick: () => {
          edit.hidden = false;
          edit.querySelector("input").focus();
        },
      },
      "Edit",
    ),
  );
  node.append(actions, reject, edit, previews(variant, label));
  return node;
}
