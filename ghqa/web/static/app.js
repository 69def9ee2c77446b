// ghqa serve: follows a running question (server-sent events), cancels it, and opens cited
// code in a side panel. Everything it inserts was rendered (and escaped) by the server.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);

  // -- the code drawer ------------------------------------------------------------------------

  const drawer = $("#drawer");

  function closeDrawer() {
    if (drawer) drawer.hidden = true;
    document.body.classList.remove("drawer-open");
  }

  async function openCode(href) {
    if (!drawer) return false;
    const body = $(".drawer-body", drawer);
    const url = new URL(href, location.href);
    url.searchParams.set("fragment", "1");
    body.innerHTML = '<p class="muted">Loading…</p>';
    drawer.hidden = false;
    document.body.classList.add("drawer-open");
    try {
      const response = await fetch(url.pathname + url.search, { credentials: "same-origin" });
      body.innerHTML = await response.text();
    } catch (err) {
      body.textContent = "The code could not be loaded: " + err;
      return true;
    }
    const view = $(".codeview", body);
    const first = view && $("#L" + view.dataset.first, body);
    if (first) first.scrollIntoView({ block: "center" });
    $(".drawer-title", drawer).textContent = ($(".code-label", body) || {}).textContent || "Code";
    return true;
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.cite, .drawer-body a[href^='/code?']");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    if (link.target === "_blank") return;
    event.preventDefault();
    openCode(link.getAttribute("href"));
  });
  if (drawer) $(".drawer-close", drawer).addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDrawer();
  });

  // -- a running question ---------------------------------------------------------------------

  const run = $("#run[data-events]");
  if (!run) return;

  const trace = $("#trace");
  const progress = $("#progress");
  const state = $("#run-state");
  const started = parseFloat(run.dataset.started) * 1000;
  const touched = new WeakSet(); // turns the user opened or closed: left as they are
  let ticking = null;

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function setText(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function setState(name) {
    run.dataset.state = name;
    if (state) {
      state.textContent = name;
      state.className = "badge badge-" + name;
    }
  }

  function tick() {
    setText("stat-time", ((Date.now() - started) / 1000).toFixed(1));
  }

  function onProgress(data) {
    const item = document.createElement("li");
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = data.t.toFixed(1) + "s";
    item.append(t, " " + data.message);
    progress.append(item);
    setText("status-line", data.message);
  }

  function onNode(data) {
    const container = (data.parent !== null && document.getElementById("k" + data.parent)) || trace;
    const content = fragment(data.html);
    const node = content.firstElementChild;
    if (data.kind === "turn") {
      // A new turn: fold the earlier ones the user did not touch.
      trace.querySelectorAll("details.turn[open]").forEach((d) => {
        if (!touched.has(d)) d.open = false;
      });
    }
    container.append(content);
    if (node && data.kind === "call") {
      // Add the call's tokens to its turn's count.
      const turn = container.closest(".node-turn");
      const count = turn && turn.querySelector(".turn-tokens");
      const call = node.querySelector(".call");
      if (count && call) {
        const total = parseInt(count.dataset.tokens, 10) + parseInt(call.dataset.tokens, 10);
        count.dataset.tokens = String(total);
        count.textContent = total.toLocaleString("en-US") + " tokens";
      }
    }
    if (node && data.kind === "cell") {
      // Show the cell's first line in its turn's summary.
      const turn = container.closest(".node-turn");
      const cell = node.querySelector(".cell");
      const slot = turn && turn.querySelector(".turn-preview");
      if (slot && cell && cell.dataset.firstLine && !slot.textContent) {
        slot.textContent = cell.dataset.firstLine;
      }
    }
  }

  function onUsage(data) {
    setText("stat-strategy", data.strategy || "…");
    setText("stat-turns", String(data.turns));
    setText("stat-calls", String(data.calls));
    setText("stat-tokens", data.tokens.toLocaleString("en-US"));
    if (data.cost !== null && data.cost !== undefined) {
      setText("stat-cost", "$" + data.cost.toFixed(4));
      const wrap = document.getElementById("stat-cost-wrap");
      if (wrap) wrap.hidden = false;
    }
  }

  function onDone(data, source) {
    source.close();
    clearInterval(ticking);
    tick();
    setState(data.state);
    if (data.usage) onUsage(data.usage);
    const body = $("#answer-body");
    body.replaceChildren(fragment(data.html));
    const cancel = $("#cancel-form");
    if (cancel) cancel.remove();
    const box = $("#progress-box");
    if (box) box.open = false;
    run.removeAttribute("data-events");
    run.dispatchEvent(new CustomEvent("ghqa:done"));
  }

  const cancelForm = $("#cancel-form");
  if (cancelForm) {
    cancelForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = $("button", cancelForm);
      button.disabled = true;
      button.textContent = "Cancelling…";
      await fetch(cancelForm.action, {
        method: "POST",
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    });
  }

  trace.addEventListener("click", (event) => {
    const summary = event.target.closest("summary");
    if (summary && summary.parentElement.matches("details.turn")) touched.add(summary.parentElement);
  });

  ticking = setInterval(tick, 200);
  const source = new EventSource(run.dataset.events);
  const handle = (name, fn) =>
    source.addEventListener(name, (event) => fn(JSON.parse(event.data), source));
  handle("progress", onProgress);
  handle("node", onNode);
  handle("usage", onUsage);
  handle("state", (data) => setState(data.state));
  handle("done", onDone);
  handle("end", () => source.close());
  source.addEventListener("error", () => {
    // The server no longer follows this run (it restarted): show what it has kept.
    if (source.readyState === EventSource.CLOSED && run.dataset.events) location.reload();
  });
})();
