// The bill review page: follow a running month close and show its progress without a reload.
// Plain JavaScript, no build step; without it, reloading the page shows the same state.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_FAILURES = 5;
  var panel = document.getElementById("close-month");
  if (!panel || panel.dataset.status !== "running") return;
  var url = panel.dataset.statusUrl;
  var failures = 0;

  function part(name) {
    return panel.querySelector('[data-part="' + name + '"]');
  }

  function show(run) {
    var text = part("text");
    if (text) text.textContent = run.progress;
    var bar = part("bar");
    if (bar && run.clients_total) {
      bar.max = run.clients_total;
      bar.value = run.clients_done;
      bar.textContent = run.clients_done + " of " + run.clients_total;
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (run) {
        failures = 0;
        if (run.status !== "running") {
          // Finished or failed: the page itself lists the outcome and the new drafts.
          window.location.reload();
          return;
        }
        show(run);
        setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        failures += 1;
        if (failures < MAX_FAILURES) setTimeout(poll, POLL_MS * failures);
      });
  }

  setTimeout(poll, POLL_MS);
})();
