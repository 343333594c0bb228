// nbctl ui: re-fetch the live part of the page every few seconds; ask before a delete.
"use strict";
const POLL_MS = 2000;

function localTimes(root) {
  for (const el of root.querySelectorAll("[data-ts]")) {
    const t = parseFloat(el.dataset.ts);
    if (t) el.textContent = new Date(t * 1000).toLocaleString();
  }
}

async function poll() {
  const live = document.getElementById("live");
  if (!live || !live.dataset.live) return;
  try {
    const r = await fetch(live.dataset.live, {credentials: "same-origin", cache: "no-store"});
    if (r.ok) {
      const log = document.getElementById("log");
      const atEnd = !log || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      live.innerHTML = await r.text();
      localTimes(live);
      const fresh = document.getElementById("log");
      if (fresh && atEnd) fresh.scrollTop = fresh.scrollHeight;
      document.body.classList.remove("stale");
    } else {
      document.body.classList.add("stale");
    }
  } catch (e) {
    document.body.classList.add("stale");
  }
}

document.addEventListener("submit", (event) => {
  const ask = event.target.dataset.confirm;
  if (ask && !window.confirm(ask)) event.preventDefault();
});

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const log = document.getElementById("log");
  if (log) log.scrollTop = log.scrollHeight;
  setInterval(poll, POLL_MS);
});
