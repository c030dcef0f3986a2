// rnnkit inspect: draws every view from its form description and its blocks (see views/__init__.py).
// With window.RNNKIT_STATIC (a static export) it draws the exported sections and asks no server.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

// A probability in [0, 1]: red for improbable, clear for certain. An activation in [-1, 1]:
// blue below zero, red above (Karpathy et al. 2015).
function colour(scale, value) {
  if (value === null || value === undefined) return "#e0e0e0";
  if (scale === "prob") return `rgba(229, 57, 53, ${(1 - value).toFixed(3)})`;
  const a = Math.min(1, Math.abs(value)).toFixed(3);
  return value < 0 ? `rgba(30, 136, 229, ${a})` : `rgba(229, 57, 53, ${a})`;
}

function renderBlock(b) {
  if (b.type === "stat") return el("div", {class: "stat"}, el("b", {text: String(b.value)}), b.label);
  if (b.type === "text") return el("pre", {text: b.text});
  if (b.type === "image") return el("img", {src: b.src, alt: "plot"});
  if (b.type === "table") {
    const t = el("table");
    if (b.header.some(h => h)) t.append(el("tr", {}, ...b.header.map(h => el("th", {text: h}))));
    for (const r of b.rows) t.append(el("tr", {}, ...r.map(c => el("td", {text: String(c)}))));
    return t;
  }
  if (b.type === "tokens") {
    const div = el("div", {class: "tokens", "data-scale": b.scale});
    for (const tok of b.tokens) {
      const s = el("span", {text: tok.text, title: tok.title});
      s.style.background = colour(b.scale, tok.value);
      if (tok.value !== null && tok.value !== undefined) s.dataset.value = tok.value;
      div.append(s);
    }
    const legend = b.scale === "prob" ? "red: improbable to the model; clear: expected (hover for the alternatives)"
                                      : "blue: negative activation; red: positive (hover for the value)";
    return el("div", {}, el("div", {class: "legend", text: legend}), div);
  }
  return el("pre", {text: JSON.stringify(b)});
}

function renderBlocks(out, blocks) {
  out.replaceChildren(...blocks.map(renderBlock));
}

function fieldInput(view, f) {
  const id = `${view.name}-${f.name}`;
  let input;
  if (f.kind === "textarea") input = el("textarea", {id, name: f.name});
  else if (f.kind === "select") input = el("select", {id, name: f.name}, ...f.options.map(o => el("option", {value: o, text: o})));
  else if (f.kind === "file") input = el("input", {id, name: f.name, type: "file"});
  else input = el("input", {id, name: f.name, type: f.kind === "number" ? "number" : "text", step: "any"});
  if (f.kind !== "file") input.value = f.default === null ? "" : String(f.default);
  return el("label", {for: id}, f.label, input);
}

async function formValues(form) {
  const values = {};
  for (const input of form.querySelectorAll("input, textarea, select")) {
    if (input.type === "file") {
      const file = input.files[0];
      if (!file) continue;
      const bytes = new Uint8Array(await file.arrayBuffer());
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      values[input.name] = btoa(binary);
      values[input.name + "_name"] = file.name;
    } else values[input.name] = input.value;
  }
  return values;
}

async function submit(view, form, out) {
  const button = form.querySelector("button");
  button.disabled = true;
  out.replaceChildren(el("div", {class: "legend", text: "working..."}));
  try {
    const reply = await fetch(`/api/view/${view.name}`, {method: "POST", headers: {"Content-Type": "application/json"},
                                                         body: JSON.stringify(await formValues(form))});
    if (!reply.ok || !view.streams) {
      const data = await reply.json();
      if (data.error) out.replaceChildren(el("div", {class: "error", text: data.error}));
      else renderBlocks(out, data.blocks);
      return;
    }
    const pre = el("pre", {id: `${view.name}-text`});
    out.replaceChildren(pre);
    const reader = reply.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      pre.textContent += decoder.decode(value, {stream: true});
    }
    pre.dataset.done = "1";
  } catch (err) {
    out.replaceChildren(el("div", {class: "error", text: `the server did not answer: ${err}`}));
  } finally {
    button.disabled = false;
  }
}

function addSection(title, name, content) {
  const tabs = document.getElementById("tabs");
  const tab = el("button", {type: "button", id: `tab-${name}`, text: title});
  const section = el("section", {class: "view", id: `view-${name}`}, content);
  tab.onclick = () => {
    for (const b of tabs.children) b.classList.toggle("active", b === tab);
    for (const s of document.querySelectorAll("section.view")) s.hidden = s !== section;
  };
  tabs.append(tab);
  document.getElementById("views").append(section);
  return tab;
}

async function main() {
  if (window.RNNKIT_STATIC) {
    const data = window.RNNKIT_STATIC;
    document.getElementById("run").textContent = data.run;
    const tabs = data.sections.map((s, i) => {
      const out = el("div", {id: `static-${i}-output`});
      renderBlocks(out, s.blocks);
      return addSection(s.title, `static-${i}`, out);
    });
    if (tabs.length) tabs[0].click();
    return;
  }
  const info = await (await fetch("/api/run")).json();
  document.getElementById("run").textContent = `${info.run} (${info.task})`;
  const tabs = info.views.map(view => {
    const out = el("div", {id: `${view.name}-output`});
    const form = el("form", {id: `${view.name}-form`}, ...view.fields.map(f => fieldInput(view, f)),
                    el("button", {type: "submit", id: `${view.name}-run`, text: view.button}));
    form.onsubmit = e => { e.preventDefault(); submit(view, form, out); };
    return addSection(view.title, view.name, el("div", {}, form, out));
  });
  if (tabs.length) tabs[0].click();
  const training = document.getElementById("training-form");
  if (training) training.requestSubmit();
}

main();
