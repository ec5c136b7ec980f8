// Small inline-SVG charts. Labels go in as text nodes, like everything else.
const SVG = "http://www.w3.org/2000/svg";
export const COLORS = ["#1f5fbf", "#b3470b", "#2f7d32", "#7b2cbf", "#8a6d00", "#a1144a"];

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

function frame(width, height, title) {
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title },
    svg("title", {}, title));
}

/**
 * Lines of (x, y) points with y in 0..1, e.g. accuracy against human labels.
 * series: [{name, points: [[x, y], ...], dashed}]
 */
export function lineChart(series, { title, width = 520, height = 240, xLabel = "", yLabel = "" }) {
  const pad = { left: 44, right: 150, top: 12, bottom: 34 };
  const chart = frame(width, height, title);
  const xs = series.flatMap((line) => line.points.map(([x]) => x));
  const xMax = Math.max(1, ...xs);
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  const x = (value) => pad.left + (value / xMax) * plotWidth;
  const y = (value) => pad.top + (1 - value) * plotHeight;
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(
      svg("line", { x1: pad.left, x2: pad.left + plotWidth, y1: y(tick), y2: y(tick), class: "gridline" }),
      svg("text", { x: pad.left - 6, y: y(tick) + 4, "text-anchor": "end" }, `${tick * 100}%`),
    );
  }
  for (const tick of [0, 0.5, 1]) {
    chart.append(
      svg("text", { x: x(tick * xMax), y: height - 18, "text-anchor": "middle" }, String(Math.round(tick * xMax))),
    );
  }
  chart.append(svg("text", { x: pad.left + plotWidth / 2, y: height - 3, "text-anchor": "middle" }, xLabel));
  chart.append(svg("text", { x: 10, y: pad.top + plotHeight / 2, transform: `rotate(-90 10 ${pad.top + plotHeight / 2})`, "text-anchor": "middle" }, yLabel));
  series.forEach((line, index) => {
    const color = line.color ?? COLORS[index % COLORS.length];
    const points = line.points.map(([px, py]) => `${x(px)},${y(py)}`).join(" ");
    chart.append(
      svg("polyline", { points, fill: "none", stroke: color, "stroke-width": 2.5, "stroke-dasharray": line.dashed ? "6 4" : "none" }),
      ...line.points.map(([px, py]) => svg("circle", { cx: x(px), cy: y(py), r: 3.5, fill: color })),
      svg("line", { x1: width - pad.right + 12, x2: width - pad.right + 34, y1: pad.top + 8 + index * 20, y2: pad.top + 8 + index * 20, stroke: color, "stroke-width": 2.5, "stroke-dasharray": line.dashed ? "6 4" : "none" }),
      svg("text", { x: width - pad.right + 40, y: pad.top + 12 + index * 20 }, line.name),
    );
  });
  return chart;
}

/** Horizontal bars: [{name, value}], labelled with the value. */
export function barChart(bars, { title, width = 420, format = String }) {
  const rowHeight = 26;
  const labelWidth = 120;
  const height = bars.length * rowHeight + 8;
  const chart = frame(width, height, title);
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  bars.forEach((bar, index) => {
    const top = 4 + index * rowHeight;
    const length = ((width - labelWidth - 70) * bar.value) / max;
    chart.append(
      svg("text", { x: labelWidth - 8, y: top + 16, "text-anchor": "end" }, bar.name),
      svg("rect", { x: labelWidth, y: top + 3, width: Math.max(length, 1), height: rowHeight - 8, fill: bar.color ?? COLORS[index % COLORS.length], rx: 2 }),
      svg("text", { x: labelWidth + length + 6, y: top + 16 }, format(bar.value)),
    );
  });
  return chart;
}

/** Budget: used (dark), open leases (light) and what is left of the bar. */
export function gauge({ used, reserved = 0, total, title, width = 420 }) {
  const chart = frame(width, 44, title);
  const scale = (value) => (total ? Math.min(1, value / total) : 0) * (width - 2);
  chart.append(
    svg("rect", { x: 1, y: 8, width: width - 2, height: 22, fill: "#e4e7ec", rx: 3 }),
    svg("rect", { x: 1, y: 8, width: scale(used + reserved), height: 22, fill: "#9bb8e6", rx: 3 }),
    svg("rect", { x: 1, y: 8, width: scale(used), height: 22, fill: "#1f5fbf", rx: 3 }),
    svg("line", { x1: 1 + (width - 2) * 0.8, x2: 1 + (width - 2) * 0.8, y1: 4, y2: 34, stroke: "#8a6d00", "stroke-width": 2 }),
    svg("text", { x: 1 + (width - 2) * 0.8 + 4, y: 42 }, "80%"),
  );
  return chart;
}

/** A confusion matrix as a heat map: rows the human label, columns the prediction. */
export function heatMap(labels, matrix, { title, cell = 26 }) {
  const names = labels.map((label) => label.split("/").at(-1));
  const left = 90;
  const top = 80;
  const size = labels.length * cell;
  const chart = frame(left + size + 10, top + size + 10, title);
  const rowTotals = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  names.forEach((name, index) => {
    chart.append(
      svg("text", { x: left - 6, y: top + index * cell + cell * 0.65, "text-anchor": "end" }, name),
      svg("text", { x: left + index * cell + cell * 0.6, y: top - 6, transform: `rotate(-55 ${left + index * cell + cell * 0.6} ${top - 6})` }, name),
    );
  });
  matrix.forEach((row, i) =>
    row.forEach((count, j) => {
      const share = rowTotals[i] ? count / rowTotals[i] : 0;
      const color = i === j ? `rgba(31,95,191,${0.08 + share * 0.92})` : `rgba(179,71,11,${share ? 0.12 + share * 0.88 : 0.03})`;
      chart.append(
        svg("rect", { x: left + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1, fill: color },
          svg("title", {}, `${labels[i]} → ${labels[j]}: ${count}`)),
      );
      if (count) {
        chart.append(svg("text", { x: left + j * cell + cell / 2, y: top + i * cell + cell * 0.65, "text-anchor": "middle", class: share > 0.5 ? "on-dark" : "" }, String(count)));
      }
    }),
  );
  return chart;
}
