/* bankcrm shell behaviour that Bootstrap and htmx do not give by themselves. */
(function () {
  "use strict";

  // A failed htmx request swaps nothing by default: tell the person instead of staying silent.
  function showProblem(text) {
    var area = document.getElementById("bc-live-messages");
    if (!area) { return; }
    var alert = document.createElement("div");
    alert.className = "alert alert-danger alert-dismissible fade show";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", area.dataset.closeLabel || "Close");
    alert.appendChild(close);
    area.appendChild(alert);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var area = document.getElementById("bc-live-messages");
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : 0;
    if (!area) { return; }
    if (status === 403) {
      showProblem(area.dataset.forbidden);
    } else if (status === 404) {
      showProblem(area.dataset.notFound);
    } else {
      showProblem(area.dataset.failed);
    }
  });

  document.addEventListener("htmx:sendError", function () {
    var area = document.getElementById("bc-live-messages");
    if (area) { showProblem(area.dataset.offline); }
  });
})();
