/* Customer service pages: SLA countdowns that tick without reloading the page.
 *
 * Each running clock carries the business minutes left when the page was drawn
 * (data-remaining), its target and warning share, the moment it was drawn (data-rendered)
 * and the end of the current working period (data-until): business time only passes until
 * then, so outside working hours the clock stands still, as the SLA does. Texts come from
 * the page (#bc-sla-formats), in the reader's language.
 */
(function () {
  "use strict";

  function formats() {
    var element = document.getElementById("bc-sla-formats");
    return element ? element.dataset : null;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  function duration(texts, minutes) {
    var total = Math.max(0, minutes);
    var hours = Math.floor(total / 60);
    var rest = total % 60;
    if (hours) {
      return fill(texts.hm, { h: hours, mm: (rest < 10 ? "0" : "") + rest });
    }
    return fill(texts.m, { m: rest });
  }

  function stateOf(remaining, target, warning) {
    if (remaining < 0) { return "breached"; }
    if (target > 0 && (target - remaining) * 100 >= target * warning) { return "warning"; }
    return "running";
  }

  function tick() {
    var texts = formats();
    if (!texts) { return; }
    var now = Date.now();
    var clocks = document.querySelectorAll("[data-sla-clock][data-until]");
    Array.prototype.forEach.call(clocks, function (clock) {
      var rendered = Number(clock.dataset.rendered);
      var until = Number(clock.dataset.until);
      var elapsed = Math.max(0, (Math.min(now, until) - rendered) / 60000);
      var remaining = Number(clock.dataset.remaining) - elapsed;
      var target = Number(clock.dataset.target || 0);
      var state = stateOf(remaining, target, Number(clock.dataset.warning || 80));
      var previous = clock.dataset.state;
      if (state !== previous) {
        clock.classList.remove("bc-sla-" + previous);
        clock.classList.add("bc-sla-" + state);
        clock.dataset.state = state;
        var label = clock.querySelector(".bc-sla-state");
        if (label && texts[state]) { label.textContent = texts[state]; }
      }
      var text = clock.querySelector(".bc-sla-text");
      if (!text) { return; }
      if (state === "breached") {
        var late = Math.floor(-remaining);
        text.textContent = late >= 1
          ? fill(texts.overdue, { time: duration(texts, late) })
          : texts.overdueNow;
      } else {
        text.textContent = fill(texts.left, { time: duration(texts, Math.ceil(remaining)) });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
  window.setInterval(tick, 15000);
})();
