/* salesplan report tables: sort by a header click, filter rows. Inline, no network. */
(function () {
  "use strict";
  var SCALE = { "%": 0.01, "k": 1e3, "M": 1e6, "bn": 1e9 };
  function sortKey(text) {
    var t = text.replace(/[\s\u00a0,¥$€£]/g, "").replace("−", "-");
    if (t === "" || t === "–" || t === "—") return null;
    var m = /^([+-]?)(\d+(?:\.\d+)?)(%|k|M|bn|x|×)?$/.exec(t);
    if (m) {
      var v = parseFloat(m[2]) * (SCALE[m[3]] || 1);
      return m[1] === "-" ? -v : v;
    }
    if (/^[+-]?∞%?$/.test(t)) return t.charAt(0) === "-" ? -Infinity : Infinity;
    return text.trim().toLowerCase();
  }
  function compare(a, b) {
    if (a === null || b === null) return a === b ? 0 : (a === null ? 1 : -1);
    var na = typeof a === "number", nb = typeof b === "number";
    if (na && nb) return a - b;
    if (na !== nb) return na ? -1 : 1;
    return a.localeCompare(b);
  }
  function bodyRows(table) {
    var rows = [];
    for (var i = 0; i < table.tBodies.length; i++) {
      rows = rows.concat(Array.prototype.slice.call(table.tBodies[i].rows));
    }
    return rows;
  }
  function sortBy(table, th, direction) {
    var col = +th.getAttribute("data-col");
    var asc = direction ? direction === "asc" : th.getAttribute("aria-sort") !== "ascending";
    var heads = table.querySelectorAll("th[data-col]");
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = bodyRows(table).map(function (tr, i) {
      var cell = tr.cells[col];
      return { tr: tr, i: i, k: cell ? sortKey(cell.textContent) : null };
    });
    rows.sort(function (x, y) {
      var c = compare(x.k, y.k);
      if (x.k !== null && y.k !== null && !asc) c = -c;
      return c || x.i - y.i;
    });
    var body = table.tBodies[0];
    rows.forEach(function (r) { body.appendChild(r.tr); });
  }
  function filterBlock(block, query, count) {
    var q = query.trim().toLowerCase(), shown = 0, total = 0;
    var tables = block.querySelectorAll("table.sp-data");
    var full = block.querySelector("table.sp-full");
    for (var t = 0; t < tables.length; t++) {
      bodyRows(tables[t]).forEach(function (tr) {
        var hit = !q || tr.textContent.toLowerCase().indexOf(q) >= 0;
        tr.hidden = !hit;
        if (!full || tables[t] === full) { total += 1; shown += hit ? 1 : 0; }
      });
    }
    var details = block.querySelector("details.sp-appendix");
    if (details && q) details.open = true;
    count.textContent = q ? shown + " of " + total + " rows match" : "";
  }
  /* cards (a phone) have no header row to click: a menu sorts the block's tables */
  function sortMenu(block, table) {
    var menu = document.createElement("select");
    menu.className = "sp-sort";
    menu.setAttribute("aria-label", "Sort the rows of this table");
    menu.add(new Option("Sort by", ""));
    var heads = table.querySelectorAll("thead th[data-col]");
    for (var i = 0; i < heads.length; i++) {
      var label = heads[i].textContent.trim(), col = heads[i].getAttribute("data-col");
      menu.add(new Option(label + " \u2191", col + ":asc"));
      menu.add(new Option(label + " \u2193", col + ":desc"));
    }
    menu.addEventListener("change", function () {
      if (!menu.value) return;
      var parts = menu.value.split(":");
      var tables = block.querySelectorAll("table.sp-data");
      for (var t = 0; t < tables.length; t++) {
        var th = tables[t].querySelector('thead th[data-col="' + parts[0] + '"]');
        if (th) sortBy(tables[t], th, parts[1]);
      }
    });
    return menu;
  }
  function setUp() {
    var heads = document.querySelectorAll("table.sp-data th[data-col]");
    for (var i = 0; i < heads.length; i++) {
      heads[i].addEventListener("click", function (e) {
        sortBy(e.currentTarget.closest("table"), e.currentTarget);
      });
      heads[i].addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sortBy(e.currentTarget.closest("table"), e.currentTarget);
        }
      });
    }
    var blocks = document.querySelectorAll(".sp-table-block[data-filter]");
    for (var b = 0; b < blocks.length; b++) {
      (function (block) {
        var bar = document.createElement("div");
        bar.className = "sp-tools";
        var input = document.createElement("input");
        input.type = "search";
        input.className = "sp-filter";
        input.placeholder = "Filter rows";
        input.setAttribute("aria-label", "Filter the rows of this table");
        var count = document.createElement("span");
        count.className = "sp-count";
        count.setAttribute("aria-live", "polite");
        input.addEventListener("input", function () { filterBlock(block, input.value, count); });
        bar.appendChild(input);
        var cards = block.querySelector("table.sp-cards");
        if (cards) bar.appendChild(sortMenu(block, cards));
        bar.appendChild(count);
        block.insertBefore(bar, block.firstChild);
      })(blocks[b]);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
