/* The segment rule builder: writes the rows and groups into the JSON textarea the form
 * posts (the server only ever reads that JSON), redraws a row when its field or operator
 * changes, and redraws the builder when the JSON is edited by hand. The live count is asked
 * for by htmx on the form (hx-trigger), after this script has written the JSON.
 */
(function () {
  "use strict";

  var fromJson = false;
  var jsonTimer = null;
  var focusAfter = null;

  function form() { return document.getElementById("segment-form"); }
  function builder() { return document.getElementById("segment-builder"); }
  function textarea() { return document.querySelector("[data-segment-json]"); }

  function ownInputs(element, selector) {
    return Array.prototype.filter.call(element.querySelectorAll(selector), function (input) {
      return input.closest("[data-rule]") === element;
    });
  }

  function scalar(text, type) {
    if (type === "int") { var whole = parseInt(text, 10); return isNaN(whole) ? text : whole; }
    if (type === "number") { var number = Number(text); return text === "" || isNaN(number) ? text : number; }
    if (type === "bool") { return text === "true" ? true : text === "false" ? false : text; }
    return text;
  }

  function read(input) {
    var type = input.dataset.type || "text";
    if (type.indexOf("multi-") === 0) {
      return Array.prototype.filter.call(input.options, function (option) { return option.selected; })
        .map(function (option) { return scalar(option.value, type.slice(6)); });
    }
    if (type.indexOf("list-") === 0) {
      return input.value.split(",").map(function (part) { return part.trim(); })
        .filter(function (part) { return part !== ""; })
        .map(function (part) { return scalar(part, type.slice(5)); });
    }
    var text = input.value.trim();
    return text === "" ? undefined : scalar(text, type);
  }

  function condition(row) {
    var rule = {};
    ownInputs(row, "[data-key]").forEach(function (input) {
      var value = read(input);
      var key = input.dataset.key;
      if (input.dataset.index) {
        rule[key] = rule[key] || [];
        rule[key][Number(input.dataset.index)] = value === undefined ? null : value;
        return;
      }
      if (value === undefined || (Array.isArray(value) && !value.length)) { return; }
      rule[key] = value;
    });
    return rule;
  }

  function group(element) {
    var items = element.querySelector("[data-items]");
    var children = Array.prototype.filter.call(items.children, function (child) {
      return child.dataset.rule;
    }).map(function (child) {
      return child.dataset.rule === "group" ? group(child) : condition(child);
    });
    var combinator = ownInputs(element, "[data-group=combinator]")[0];
    var negated = ownInputs(element, "[data-group=not]")[0];
    var rule = {};
    rule[combinator ? combinator.value : "all"] = children;
    return negated && negated.checked ? { not: rule } : rule;
  }

  function serialise() {
    var root = builder() && builder().querySelector("[data-rule=group]");
    var area = textarea();
    if (!root || !area) { return; }
    area.value = JSON.stringify(group(root), null, 2);
  }

  function changed() {
    var target = form();
    if (target) { target.dispatchEvent(new CustomEvent("segment-changed", { bubbles: true })); }
  }

  function redrawRow(row, fieldChanged) {
    var rule = condition(row);
    if (fieldChanged) { rule = { field: rule.field }; }
    var url = form().dataset.ruleRowUrl;
    focusAfter = document.activeElement && row.contains(document.activeElement) ? document.activeElement.id : null;
    htmx.ajax("GET", url, {
      target: row, swap: "outerHTML",
      values: { rule: JSON.stringify(rule), row: row.id }
    });
  }

  function redrawFromJson() {
    var area = textarea();
    var definition;
    try { definition = JSON.parse(area.value); } catch (error) { return; }
    if (!definition || typeof definition !== "object") { return; }
    fromJson = true;
    htmx.ajax("GET", form().dataset.ruleRowUrl, {
      target: builder(), swap: "innerHTML",
      values: { definition: JSON.stringify(definition) }
    });
  }

  function start() {
    var target = form();
    var area = textarea();
    if (!target || !area || !builder()) { return; }
    builder().hidden = false;
    if (!builder().querySelector("[data-builder-unsupported]")) {
      document.getElementById("segment-json-details").open = false;
      if (!area.value.trim()) { serialise(); }
    }
    // Capture phase: the JSON is written before htmx reads the form for the live count.
    target.addEventListener("change", function (event) {
      var input = event.target;
      if (input === area) { return; }
      var row = input.closest("[data-rule=condition]");
      if (row && (input.dataset.key === "field" || input.dataset.key === "op")) {
        redrawRow(row, input.dataset.key === "field");
      }
      serialise();
    }, true);
    target.addEventListener("input", function (event) {
      if (event.target === area) {
        window.clearTimeout(jsonTimer);
        jsonTimer = window.setTimeout(redrawFromJson, 600);
      } else if (event.target.closest("[data-rule]")) {
        serialise();
      }
    }, true);
    target.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove]");
      if (!button) { return; }
      var item = button.closest("[data-rule]");
      var next = item.nextElementSibling || item.previousElementSibling || item.parentElement;
      item.remove();
      serialise();
      changed();
      var focusable = next && next.querySelector("select, input, button");
      if (focusable) { focusable.focus(); }
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var swapped = event.detail.target;
      if (swapped.id === "segment-count") { return; }
      if (swapped === builder() && fromJson) { fromJson = false; changed(); return; }
      if (swapped.hasAttribute && swapped.hasAttribute("data-items")) {
        var added = swapped.lastElementChild;
        var first = added && added.querySelector("select, input");
        if (first) { first.focus(); }
      } else if (focusAfter) {
        var again = document.getElementById(focusAfter);
        if (again) { again.focus(); }
      }
      focusAfter = null;
      serialise();
      changed();
    });
    changed();
  }

  // After htmx has set up the page (it starts on DOMContentLoaded too, and loads first).
  if (document.readyState === "complete") {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
