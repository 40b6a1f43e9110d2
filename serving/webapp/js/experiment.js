// Step 4: an A/B test from accepted variants, with live statistics, the sample-ratio check and
// the winner decision.

import { get, post } from "./api.js";
import { $, clearErrors, el, showError, status } from "./dom.js";
import { intervalPlot } from "./plot.js";

const REFRESH_MS = 5000;
let accepted = [];
let timer = null;

export function setupExperiment() {
  $("#experiment-form").addEventListener("submit", start);
  showAccepted([]);
}

/** The accepted variants the test may use (in the order they were accepted). */
export function showAccepted(list) {
  accepted = list;
  const box = $("#accepted");
  if (!list.length) {
    box.replaceChildren(el("p", { class: "help" }, "No accepted variants yet."));
    return;
  }
  box.replaceChildren(
    ...list.map((v, i) =>
      el(
        "div",
        { class: "check" },
        el("input", { type: "checkbox", id: `arm-${v.id}`, value: v.id, checked: true }),
        el("label", { for: `arm-${v.id}` }, `${i === 0 ? "Control: " : ""}${v.segment} — ${v.subject}`),
      ),
    ),
  );
}

async function start(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const ids = [...$("#accepted").querySelectorAll("input:checked")].map((box) => box.value);
  const name = $("#experiment-name").value.trim() || `A/B test ${new Date().toISOString().slice(0, 16)}`;
  try {
    const experiment = await post("/v1/experiments", { name, variant_ids: ids, primary_metric: $("#metric").value });
    status(`Started the experiment ${experiment.name}.`);
    watch(experiment);
  } catch (error) {
    showError(form, error, "variant_ids");
  }
}

function watch(experiment) {
  clearInterval(timer);
  const names = Object.fromEntries(
    experiment.arms.map((arm) => {
      const v = accepted.find((a) => a.id === arm.variant_id);
      return [arm.variant_id, `${arm.is_control ? "Control" : `Arm ${arm.position + 1}`}${v ? `: ${v.subject.slice(0, 18)}` : ""}`];
    }),
  );
  const refresh = async () => {
    try {
      showResults(experiment, await get(`/v1/experiments/${encodeURIComponent(experiment.id)}/results`), names);
    } catch (error) {
      status(`The results could not be read: ${error.message}`);
    }
  };
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

const fmt = (x, digits = 3) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits));

function showResults(experiment, results, names) {
  const arms = el(
    "table",
    { class: "arms" },
    el("caption", {}, `${experiment.name}: ${results.metric} per arm (${results.engine})`),
    el("thead", {}, el("tr", {}, ["Arm", "Recipients", "Total", "Mean"].map((h) => el("th", { scope: "col" }, h)))),
    el(
      "tbody",
      {},
      results.arms.map((a) =>
        el("tr", {}, el("th", { scope: "row" }, names[a.variant_id] || a.variant_id), el("td", {}, a.n), el("td", {}, fmt(a.total, 0)), el("td", {}, fmt(a.mean))),
      ),
    ),
  );
  const srm = results.srm;
  const decision = results.decision;
  const comparisons = results.comparisons.map((c) =>
    el(
      "li",
      {},
      `${names[c.treatment] || c.treatment} against the control: lift ${fmt(c.lift)}, interval ${fmt(c.interval[0])} to ${fmt(c.interval[1])}`,
      c.chance_to_win !== null && c.chance_to_win !== undefined ? `, chance to win ${fmt(c.chance_to_win, 2)}` : "",
      c.p_value !== null && c.p_value !== undefined ? `, p = ${fmt(c.p_value)}` : "",
    ),
  );
  $("#results").replaceChildren(
    el("h3", {}, "Live results"),
    arms,
    el("ul", { class: "comparisons" }, comparisons),
    intervalPlot(results.comparisons, names),
    el(
      "p",
      { class: srm.alarm ? "alarm" : "ok", "data-srm": srm.alarm ? "alarm" : "ok" },
      el("strong", {}, "Sample-ratio check: "),
      srm.alarm ? `alarm (p = ${fmt(srm.p_value, 4)}): arm sizes do not match the weights` : `ok (p = ${fmt(srm.p_value, 4)})`,
    ),
    el(
      "div",
      { class: "decision", "data-decision": decision.status },
      el("p", {}, el("strong", {}, "Decision: "), decision.status.replace("_", " "), decision.winner_variant_id ? ` — ${names[decision.winner_variant_id]}` : ""),
      el("ul", {}, decision.reasons.map((r) => el("li", {}, r))),
    ),
  );
}
