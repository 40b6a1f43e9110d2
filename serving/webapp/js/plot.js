// An inline SVG of each treatment's lift over the control with its interval, and the zero line.

const NS = "http://www.w3.org/2000/svg";

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;

/** The plot for `comparisons` (ComparisonOut) labelled by `names` (variant id -> label). */
export function intervalPlot(comparisons, names) {
  const width = 560;
  const row = 44;
  const left = 150;
  const right = 20;
  const height = 40 + row * Math.max(comparisons.length, 1);
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "plot", width: "100%" });
  const usable = comparisons.filter((c) => c.interval[0] !== null && c.interval[1] !== null && c.lift !== null);
  const summary = usable.length
    ? usable.map((c) => `${names[c.treatment] || c.treatment}: lift ${pct(c.lift)}, interval ${pct(c.interval[0])} to ${pct(c.interval[1])}`).join("; ")
    : "no outcomes yet, so no intervals";
  svg.append(node("title", {}, `Lift over the control with its interval. ${summary}`));
  const values = usable.flatMap((c) => [c.interval[0], c.interval[1], c.lift, 0]);
  let lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (hi - lo < 1e-9) {
    lo = -0.1;
    hi = 0.1;
  }
  const pad = (hi - lo) * 0.1;
  lo -= pad;
  hi += pad;
  const x = (v) => left + ((v - lo) / (hi - lo)) * (width - left - right);
  svg.append(node("line", { x1: x(0), x2: x(0), y1: 10, y2: height - 20, stroke: "#555", "stroke-dasharray": "4 3" }));
  svg.append(node("text", { x: x(0), y: height - 6, "text-anchor": "middle", "font-size": 12, fill: "#222" }, "0 (no lift)"));
  comparisons.forEach((c, i) => {
    const y = 30 + i * row;
    svg.append(node("text", { x: left - 8, y: y + 4, "text-anchor": "end", "font-size": 13, fill: "#222" }, names[c.treatment] || "treatment"));
    if (!usable.includes(c)) {
      svg.append(node("text", { x: left, y: y + 4, "font-size": 13, fill: "#222" }, "no outcomes yet"));
      return;
    }
    svg.append(node("line", { x1: x(c.interval[0]), x2: x(c.interval[1]), y1: y, y2: y, stroke: "#1d4f91", "stroke-width": 6, "stroke-linecap": "round" }));
    svg.append(node("circle", { cx: x(c.lift), cy: y, r: 6, fill: "#b3261e" }));
    svg.append(node("text", { x: x(c.interval[1]) + 8, y: y + 4, "font-size": 12, fill: "#222" }, pct(c.lift)));
  });
  return svg;
}
