// The web app's entry: log in with an API key, then the brand, brief, variants and experiment steps.

import { forgetKey, get, saveKey, savedKey } from "./api.js";
import { loadBrands, setupBrand } from "./brand.js";
import { loadSegments, setupBrief, useBrand } from "./brief.js";
import { $, clearErrors, showError, status } from "./dom.js";
import { setupExperiment, showAccepted } from "./experiment.js";
import { previewBrand } from "./preview.js";
import { generate, setupVariants } from "./variants.js";

async function enter() {
  const me = await get("/v1/me");
  $("#login").hidden = true;
  $("#workspace").hidden = false;
  $("#steps").hidden = false;
  $("#logout").hidden = false;
  const who = $("#who");
  who.hidden = false;
  who.textContent = `${me.workspace_name} · ${me.role}`;
  await Promise.all([loadBrands(), loadSegments()]);
  status(`Logged in to ${me.workspace_name}.`);
  $("#brand-title").setAttribute("tabindex", "-1");
  $("#brand-title").focus();
}

function leave() {
  forgetKey();
  location.reload();
}

async function login(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const key = $("#api-key").value.trim();
  if (!key) {
    showError(form, { field: "key", message: "enter your API key" });
    return;
  }
  saveKey(key);
  try {
    await enter();
    $("#api-key").value = "";
  } catch (error) {
    forgetKey();
    showError(form, { field: "key", message: error.status === 401 ? "this API key is not valid" : error.message });
  }
}

function start() {
  for (const id of ["#variants-title", "#experiment-title", "#brief-title"]) $(id).setAttribute("tabindex", "-1");
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", leave);
  setupBrand((brand) => {
    useBrand(brand);
    previewBrand(brand.kit);
  });
  setupBrief(generate);
  setupVariants(showAccepted);
  setupExperiment();
  if (savedKey()) {
    enter().catch(() => {
      forgetKey();
      status("Your session ended: log in again.");
    });
  }
}

start();
