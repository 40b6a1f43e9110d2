// Small DOM helpers: build elements, report status, show an API error next to its field.

/** An element with attributes (`on*` functions become listeners) and children (text or nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** A message in the page's polite live region. */
export function status(message) {
  $("#status").textContent = message;
}

/** Empty every field error of `form`. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-field-error]")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/**
 * Show `error` (an ApiError) beside the field it names: the error slot whose name is the longest
 * prefix of the field ("brief.segments.0.name" lands on "brief.segments"), else `fallback`.
 */
export function showError(form, error, fallback) {
  const field = error.field || "";
  let best = null;
  for (const slot of form.querySelectorAll("[data-field-error]")) {
    const name = slot.dataset.fieldError;
    if ((field === name || field.startsWith(`${name}.`)) && (!best || name.length > best.dataset.fieldError.length)) {
      best = slot;
    }
  }
  const slot = best || (fallback && form.querySelector(`[data-field-error="${fallback}"]`));
  const text = field ? `${field}: ${error.message}` : error.message;
  if (slot) {
    slot.textContent = text;
    const input = slot.id ? form.querySelector(`[aria-describedby~="${slot.id}"]`) : null;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
  status(text);
}
