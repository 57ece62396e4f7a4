// Live progress on the crawls pages: while a crawl is queued or running, poll
// /crawls/progress (the same JSON as /api/v1/crawls) every two seconds and update the
// elements marked data-field inside each [data-crawl] element. Without JavaScript the
// pages still show the figures of the moment they were loaded.
(function () {
  "use strict";
  const PERIOD_MS = 2000;
  const holders = () => document.querySelectorAll("[data-crawl]");
  if (!holders().length) return;

  function set(root, name, value) {
    root.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
      el.textContent = value === null || value === undefined ? "" : String(value);
    });
  }

  function show(root, crawl) {
    const live = crawl.progress;
    set(root, "status", crawl.status);
    set(root, "pages", live ? live.pages_fetched : crawl.pages_fetched);
    set(root, "images", live ? live.images_found : crawl.images_found);
    set(root, "hashed", crawl.images_hashed);
    set(root, "skipped", crawl.images_skipped);
    set(root, "failure", crawl.failure_reason || "");
    set(root, "progress", live
      ? live.percent + "% " + live.phase + ", " + live.pages_per_s.toFixed(1) + " pages/s"
      : (crawl.note || ""));
    root.querySelectorAll("progress").forEach(function (bar) {
      bar.hidden = !live;
      if (live) bar.value = live.percent;
    });
  }

  async function poll() {
    let active = false;
    try {
      const response = await fetch("/crawls/progress", {
        credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (!response.ok) throw new Error(String(response.status));
      const crawls = new Map((await response.json()).map(function (c) { return [String(c.id), c]; }));
      holders().forEach(function (root) {
        const crawl = crawls.get(root.dataset.crawl);
        if (!crawl) return;
        show(root, crawl);
        if (crawl.status === "running" || crawl.status === "queued") active = true;
      });
      const stamp = document.getElementById("updated");
      if (stamp) stamp.textContent = active
        ? "Updating live; last update " + new Date().toLocaleTimeString() + "."
        : "No crawl is running; figures are final.";
    } catch (error) {
      active = true;  // the server may be restarting: try again
    }
    if (active) setTimeout(poll, PERIOD_MS);
  }

  setTimeout(poll, PERIOD_MS);
})();
