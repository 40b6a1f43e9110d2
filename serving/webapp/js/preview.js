// An e-mail as a subscriber sees it: merge tags filled with sample values and conditions resolved,
// as the command line's preview page does (genai.render.preview_html).

const PREVIEW_AS = {
  FNAME: "Alex",
  LNAME: "Morgan",
  EMAIL: "alex@example.com",
  UNSUB: "#unsubscribe",
  UPDATE_PROFILE: "#preferences",
  ARCHIVE: "#archive",
};
const IF_BLOCK = /\*\|(IF|IFNOT):([A-Z0-9_:]+)\|\*([\s\S]*?)(?:\*\|ELSE:?\|\*([\s\S]*?))?\*\|END:IF\|\*/g;
const MERGE_TAG = /\*\|([^|*]*)\|\*/g;

let values = { ...PREVIEW_AS };

/** The brand whose postal address fills the footer's list-address tag. */
export function previewBrand(kit) {
  values = { ...PREVIEW_AS, "LIST:ADDRESS": kit.address || kit.name };
}

const escape = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** `html` with merge tags filled as for the sample subscriber. */
export function previewHtml(html) {
  let out = html;
  for (let i = 0; i < 3; i += 1) {
    // nested conditions, innermost first
    out = out.replace(IF_BLOCK, (_, kind, name, yes, no = "") => (Boolean(values[name]) === (kind === "IF") ? yes : no));
  }
  return out.replace(MERGE_TAG, (_, name) => escape(values[name] || ""));
}
