// Client pages: refresh the state of the seats on the page without a reload, and send each
// confirming form only once. Plain JavaScript, no build step; the pages work without it.
(function () {
  "use strict";

  var script = document.currentScript;
  var statesUrl = script && script.dataset.statesUrl;
  var FAST_MS = 2000; // while a seat on the page is still moving
  var SLOW_MS = 5000; // when everything has settled (another tab or admin may change something)
  var MAX_FAILURES = 5;
  var failures = 0;
  var timer = null;

  function seatBlocks() {
    return Array.prototype.slice.call(document.querySelectorAll(".seat-status[data-seat-id]"));
  }

  function setPart(block, part, text) {
    var element = block.querySelector('[data-part="' + part + '"]');
    if (!element) return;
    element.textContent = text || "";
    element.hidden = !text;
  }

  function render(block, seat) {
    var label = block.querySelector('[data-part="label"]');
    if (label) {
      label.textContent = seat.label;
      label.className = "state state-" + seat.state;
    }
    setPart(block, "note", seat.note);
    setPart(block, "error", seat.error);
    block.dataset.settled = seat.settled ? "true" : "false";
    block.dataset.state = seat.state;
    document.querySelectorAll('[data-seat-person="' + seat.id + '"]').forEach(function (cell) {
      renderPerson(cell, seat);
    });
  }

  function renderPerson(cell, seat) {
    var muted = document.createElement("span");
    muted.className = "muted";
    cell.textContent = "";
    if (seat.end_user) {
      muted.textContent = seat.end_user_email;
      cell.append(seat.end_user + " ", muted);
    } else {
      muted.textContent = "unassigned";
      cell.append(muted);
    }
  }

  function schedule() {
    var moving = seatBlocks().some(function (block) {
      return block.dataset.settled !== "true";
    });
    clearTimeout(timer);
    timer = setTimeout(poll, moving ? FAST_MS : SLOW_MS);
  }

  function poll() {
    if (document.hidden) return; // resumed by visibilitychange
    var blocks = seatBlocks();
    if (!blocks.length) return;
    var ids = blocks.map(function (block) {
      return block.dataset.seatId;
    });
    var unique = ids.filter(function (id, index) {
      return ids.indexOf(id) === index;
    });
    fetch(statesUrl + "?ids=" + unique.join(","), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    })
      .then(function (response) {
        // A redirect to the log-in page (session ended) is not JSON: stop quietly.
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || response.redirected || type.indexOf("application/json") === -1) {
          throw new Error("seat states unavailable: " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        var byId = {};
        data.seats.forEach(function (seat) {
          byId[String(seat.id)] = seat;
        });
        blocks.forEach(function (block) {
          var seat = byId[block.dataset.seatId];
          if (seat) render(block, seat);
        });
        schedule();
      })
      .catch(function () {
        failures += 1;
        if (failures < MAX_FAILURES) {
          clearTimeout(timer);
          timer = setTimeout(poll, SLOW_MS);
        }
      });
  }

  function guardForms() {
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var question = form.dataset.confirm;
        if (question && !window.confirm(question)) {
          event.preventDefault();
          return;
        }
        if (form.dataset.sent === "true") {
          event.preventDefault();
          return;
        }
        form.dataset.sent = "true";
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.disabled = true;
        });
      });
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) poll();
  });

  guardForms();
  if (statesUrl && window.fetch) schedule();
})();
