// The page at /: tag the text with /v1/compare (or /v1/tag when this server does not compare)
// and show each model's entities, marking the tokens whose label backward context changed and,
// for the one chosen, the later word that decided it and how its probability moved.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
// Codes of the answers that refuse deciding words only: the page then tags without them.
const TOO_COSTLY = ["sentence_too_long", "deciding_too_costly"];

let shown = null; // { tokens } of the compared result on the page

// Each entity type's colour: the bundled model's four as they always were, any other type the
// next of the palette, in the order the model lists its labels (then as they first appear).
const KNOWN = { PER: "#fde68a", LOC: "#bbf7d0", ORG: "#bfdbfe", MISC: "#e9d5ff" };
const PALETTE = ["#fecaca", "#a5f3fc", "#fed7aa", "#d9f99d", "#fbcfe8", "#c7d2fe", "#99f6e4",
  "#f5d0fe", "#e7e5e4", "#fef3c7"];
const colours = new Map();

function colour(label) {
  if (!colours.has(label)) {
    const others = [...colours.keys()].filter((known) => !(known in KNOWN)).length;
    colours.set(label, KNOWN[label] || PALETTE[others % PALETTE.length]);
  }
  return colours.get(label);
}

// An entity's <mark>, coloured by its label, which it also shows after its text.
function entityMark(label) {
  const mark = element("mark", "entity");
  mark.dataset.label = label;
  mark.style.setProperty("--entity", colour(label));
  return mark;
}

// The legend of the entity types of the model of /v1/tag, each in its colour.
async function showLabels() {
  try {
    const response = await fetch("v1/models");
    if (!response.ok) return;
    const [served] = (await response.json()).models;
    const legend = $("labels");
    legend.replaceChildren("Entity types: ");
    for (const label of served.labels) {
      const mark = entityMark(label);
      mark.textContent = label;
      legend.append(mark, " ");
    }
    legend.hidden = false;
  } catch (error) {
    // No legend: the entities still show their labels.
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const percent = (p) => `${Math.round(100 * p)}%`;

// A token of the BiGRU's text: a button when a deciding word can be shown for it.
function tokenNode(token, index, choosable) {
  if (choosable && token.deciding) {
    const button = element("button", "token changed", token.text);
    button.type = "button";
    button.dataset.index = String(index);
    button.setAttribute("aria-controls", "why");
    button.setAttribute("aria-pressed", "false");
    button.title = "backward context changed this label: show the word that decided it";
    button.addEventListener("click", () => choose(index));
    return button;
  }
  const span = element("span", token.changed ? "token changed" : "token", token.text);
  span.dataset.index = String(index);
  if (token.changed) span.title = "backward context changed this label";
  return span;
}

// The text with each entity in a <mark> and each token in a <span>; gaps copied from the text.
function renderTagged(container, text, tokens, entities, choosable) {
  container.replaceChildren();
  let position = 0;
  let current = null;
  let mark = null;
  tokens.forEach((token, index) => {
    const entity = entities.find((e) => e.start <= token.start && token.end <= e.end) || null;
    const gap = text.slice(position, token.start);
    if (entity !== current) {
      container.append(gap);
      if (entity) {
        mark = entityMark(entity.label);
        container.append(mark);
      }
      current = entity;
    } else {
      (entity ? mark : container).append(gap);
    }
    (entity ? mark : container).append(tokenNode(token, index, choosable));
    position = token.end;
  });
  container.append(text.slice(position));
}

// A tag and its probability, with a bar as long as the probability.
function confidence(tagScore) {
  const cell = element("td", "");
  const bar = element("span", "bar");
  bar.style.setProperty("--p", String(tagScore.score));
  bar.setAttribute("aria-hidden", "true");
  cell.append(element("span", "tag", tagScore.tag), " ", element("span", "score",
    percent(tagScore.score)), bar);
  return cell;
}

function renderTable(tokens) {
  const body = $("tokens").tBodies[0];
  body.replaceChildren();
  tokens.forEach((token, index) => {
    const row = element("tr", token.changed ? "changed" : "");
    row.dataset.index = String(index);
    const name = element("td", "");
    if (token.deciding) {
      const button = element("button", "choose", token.text);
      button.type = "button";
      button.setAttribute("aria-controls", "why");
      button.addEventListener("click", () => choose(index));
      name.append(button);
    } else {
      name.textContent = token.text;
    }
    const decided = token.deciding
      ? `${token.deciding.text} (${token.deciding.distance ? `+${token.deciding.distance}` : "itself"})`
      : token.changed ? "–" : "";
    row.append(name, confidence(token.forward), confidence(token.bidirectional),
      element("td", "decided", decided));
    body.append(row);
  });
}

// A curved arrow over the text, from the chosen token to its deciding word.
function drawArrow(container, from, to) {
  container.querySelector("svg.arrows")?.remove();
  if (!from || !to || from === to) return;
  const box = container.getBoundingClientRect();
  const a = from.getBoundingClientRect();
  const b = to.getBoundingClientRect();
  const x1 = a.left + a.width / 2 - box.left;
  const y1 = a.top - box.top + 2;
  const x2 = b.left + b.width / 2 - box.left;
  const y2 = b.top - box.top;
  const lift = Math.min(34, 12 + Math.abs(x2 - x1) * 0.15);
  const layer = svg("svg", { class: "arrows", "aria-hidden": "true",
    width: String(box.width), height: String(box.height) });
  const marker = svg("marker", { id: "arrowhead", viewBox: "0 0 10 10", refX: "8", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "head" }));
  const defs = svg("defs", {});
  defs.append(marker);
  const path = svg("path", { class: "arrow", "marker-end": "url(#arrowhead)",
    d: `M ${x1} ${y1} C ${x1} ${y1 - lift}, ${x2} ${y2 - lift}, ${x2} ${y2 - 3}` });
  layer.append(defs, path);
  container.append(layer);
}

// The probability of the final label at each prefix, the deciding word's point marked.
function drawCurve(token) {
  const { deciding } = token;
  const steps = deciding.prefixes;
  const chart = $("curve");
  chart.replaceChildren();
  const [width, height, left, right, top, bottom] = [360, 190, 42, 14, 16, 58];
  const n = steps.length;
  const x = (k) => left + (n === 1 ? (width - left - right) / 2 : (k * (width - left - right)) / (n - 1));
  const y = (p) => top + (1 - p) * (height - top - bottom);
  for (const p of [0, 0.5, 1]) {
    chart.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(p), y2: y(p) }));
    chart.append(svg("text", { class: "axis", x: left - 6, y: y(p) + 4, "text-anchor": "end" },
      percent(p)));
  }
  const decider = steps.findIndex((s) => s.through === deciding.index);
  chart.append(svg("line", { class: "decider-line", x1: x(decider), x2: x(decider), y1: top,
    y2: height - bottom }));
  const points = steps.map((s, k) => `${x(k)},${y(s.probability)}`).join(" ");
  chart.append(svg("polyline", { class: "curve", points }));
  const words = shown.tokens;
  steps.forEach((s, k) => {
    const dot = svg("circle", { class: k === decider ? "dot deciding" : "dot", cx: x(k),
      cy: y(s.probability), r: k === decider ? 5.5 : 3.5 });
    dot.append(svg("title", {}, `up to ${words[s.through].text}: ${s.tag}, ` +
      `${percent(s.probability)} ${token.bidirectional.tag}`));
    chart.append(dot);
    if (n <= 12 || k === 0 || k === decider || k === n - 1) {
      const label = svg("text", { class: k === decider ? "word deciding" : "word",
        x: x(k), y: height - bottom + 14, "text-anchor": "end",
        transform: `rotate(-35 ${x(k)} ${height - bottom + 14})` }, words[s.through].text);
      chart.append(label);
    }
  });
  const first = steps[0];
  const at = steps[decider];
  const last = steps[n - 1];
  $("curve-title").textContent = `Probability that “${token.text}” is ${token.bidirectional.tag}` +
    ` as the BiGRU reads the sentence word by word: ${percent(first.probability)} up to ` +
    `“${token.text}”, ${percent(at.probability)} once “${deciding.text}” is read, ` +
    `${percent(last.probability)} with the whole sentence.`;
}

function renderSteps(token) {
  const body = $("steps").tBodies[0];
  body.replaceChildren();
  for (const s of token.deciding.prefixes) {
    const row = element("tr", s.through === token.deciding.index ? "deciding" : "");
    row.append(element("td", "", shown.tokens[s.through].text), element("td", "", s.tag),
      element("td", "", percent(s.probability)));
    body.append(row);
  }
}

function explain(token) {
  const { deciding } = token;
  $("why-token").textContent = token.text;
  $("why-tag").textContent = token.bidirectional.tag;
  const forward = `The forward-only GRU, which cannot read ahead, says ${token.forward.tag}.`;
  const before = deciding.prefixes.filter((s) => s.through < deciding.index).map((s) => s.tag);
  $("why-summary").textContent = deciding.distance === 0
    ? `The BiGRU labels it so from the words up to it already: no later word was needed. ${forward}`
    : `“${deciding.text}”, ${deciding.distance} word${deciding.distance > 1 ? "s" : ""} later, ` +
      `decided it: from there on the BiGRU keeps ${token.bidirectional.tag}; before it, it said ` +
      `${[...new Set(before)].join(", then ")}. ${forward}`;
}

// Show why token ``index`` got its label: arrow, curve and steps.
function choose(index) {
  const token = shown.tokens[index];
  if (!token || !token.deciding) return;
  const text = $("bidirectional");
  for (const button of text.querySelectorAll("button.token")) {
    button.setAttribute("aria-pressed", String(button.dataset.index === String(index)));
  }
  for (const node of document.querySelectorAll(".decider, tr.chosen")) {
    node.classList.remove("decider", "chosen");
  }
  const from = text.querySelector(`[data-index="${index}"]`);
  const to = text.querySelector(`[data-index="${token.deciding.index}"]`);
  to?.classList.add("decider");
  $("tokens").tBodies[0].querySelector(`tr[data-index="${index}"]`)?.classList.add("chosen");
  $("why").hidden = false;
  $("why").dataset.index = String(index);
  explain(token);
  drawCurve(token);
  renderSteps(token);
  drawArrow(text, from, to);
}

function showCompared(text, answer) {
  const [result] = answer.results;
  shown = { tokens: result.tokens };
  const side = (name) =>
    result.tokens.map((t) => ({ ...t, tag: t[name].tag, changed: t.changed }));
  $("bidirectional-name").textContent = answer.models.bidirectional;
  $("forward-name").textContent = answer.models.forward;
  renderTagged($("bidirectional"), text, side("bidirectional"), result.entities.bidirectional, true);
  renderTagged($("forward"), text, side("forward"), result.entities.forward, false);
  renderTable(result.tokens);
  $("changed-count").textContent = String(result.changed);
  $("forward-side").hidden = false;
  $("why").hidden = true;
  const first = result.tokens.findIndex((t) => t.deciding);
  if (first >= 0) {
    $("results").hidden = false; // laid out before the arrow is measured
    choose(first);
  }
}

function showTagged(text, answer) {
  const [result] = answer.results;
  shown = null;
  $("bidirectional-name").textContent = answer.model;
  renderTagged($("bidirectional"), text, result.tokens, result.entities, false);
  $("forward-side").hidden = true;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { response, body: await response.json() };
}

function setStatus(message, kind) {
  $("status").textContent = message;
  $("status").className = kind || "";
}

async function submit(event) {
  event.preventDefault();
  const text = $("text").value;
  setStatus("Tagging…");
  $("submit").disabled = true;
  try {
    let { response, body } = await post("v1/compare", { text, deciding_words: true });
    let notice = "";
    if (response.status === 413 && body.error && TOO_COSTLY.includes(body.error.code)) {
      notice = `Deciding words are not shown: ${body.error.message}.`;
      ({ response, body } = await post("v1/compare", { text }));
    }
    const compared = response.ok;
    if (response.status === 404 && body.error && body.error.code === "compare_disabled") {
      ({ response, body } = await post("v1/tag", { text }));
      notice = "Comparison with the forward-only tagger is turned off on this server.";
    }
    if (!response.ok) {
      setStatus(`Error ${response.status}: ${body.error ? body.error.message : "unknown"}`, "error");
      return;
    }
    (compared ? showCompared : showTagged)(text, body);
    $("results").hidden = false;
    document.body.dataset.state = compared ? "compared" : "tagged";
    setStatus(notice, notice ? "notice" : "");
  } catch (error) {
    setStatus(`The service did not answer: ${error}`, "error");
  } finally {
    $("submit").disabled = false;
  }
}

$("form").addEventListener("submit", submit);
showLabels();
window.addEventListener("resize", () => {
  const index = $("why").dataset.index;
  if (shown && !$("why").hidden && index !== undefined) choose(Number(index));
});
