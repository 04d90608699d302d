// The page at /: tag the text with /v1/compare (or /v1/tag when this server does not compare)
// and show each model's entities, marking the tokens whose label backward context changed.
"use strict";

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The text with each entity in a <mark> and each token in a <span>; gaps copied from the text.
function renderTagged(container, text, tokens, entities) {
  container.replaceChildren();
  let position = 0;
  let current = null;
  let mark = null;
  for (const token of tokens) {
    const entity = entities.find((e) => e.start <= token.start && token.end <= e.end) || null;
    const gap = text.slice(position, token.start);
    if (entity !== current) {
      container.append(gap);
      if (entity) {
        mark = element("mark", `entity ${entity.label}`);
        mark.dataset.label = entity.label;
        container.append(mark);
      }
      current = entity;
    } else {
      (entity ? mark : container).append(gap);
    }
    const span = element("span", token.changed ? "token changed" : "token", token.text);
    if (token.changed) span.title = "backward context changed this label";
    (entity ? mark : container).append(span);
    position = token.end;
  }
  container.append(text.slice(position));
}

function renderTable(tokens) {
  const body = $("tokens").tBodies[0];
  body.replaceChildren();
  for (const token of tokens) {
    const row = element("tr", token.changed ? "changed" : "");
    row.append(
      element("td", "", token.text),
      element("td", "", token.forward.tag),
      element("td", "", token.bidirectional.tag),
    );
    body.append(row);
  }
}

function showCompared(text, answer) {
  const [result] = answer.results;
  const side = (name) =>
    result.tokens.map((t) => ({ ...t, tag: t[name].tag, changed: t.changed }));
  $("bidirectional-name").textContent = answer.models.bidirectional;
  $("forward-name").textContent = answer.models.forward;
  renderTagged($("bidirectional"), text, side("bidirectional"), result.entities.bidirectional);
  renderTagged($("forward"), text, side("forward"), result.entities.forward);
  renderTable(result.tokens);
  $("changed-count").textContent = String(result.changed);
  $("forward-side").hidden = false;
}

function showTagged(text, answer) {
  const [result] = answer.results;
  $("bidirectional-name").textContent = answer.model;
  renderTagged($("bidirectional"), text, result.tokens, result.entities);
  $("forward-side").hidden = true;
}

async function post(path, text) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text }),
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
    let { response, body } = await post("v1/compare", text);
    let compared = response.ok;
    let notice = "";
    if (response.status === 404 && body.error && body.error.code === "compare_disabled") {
      ({ response, body } = await post("v1/tag", text));
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
