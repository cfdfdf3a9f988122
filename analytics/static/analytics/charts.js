/* VoucherHub charts (issue 17, docs/analytics.md): draws every `.vh-chart` element with the vendored ECharts.

Each element names, in data-chart, the id of the json_script block that holds its chart (analytics/charts.py's
Chart as JSON: kind, categories, series [{name, data, dashed}], y_categories, money, percent, drill). The
element's text (data-empty) is shown instead of a chart when there is no data. No inline script, no eval: the
page's Content-Security-Policy stays script-src 'self'. */
(function () {
  "use strict";
  if (window.VHCharts) { return; }

  // Okabe-Ito: told apart by readers with any common colour-vision deficiency.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"];
  var HEAT = ["#f7fbff", "#9ecae1", "#4292c6", "#08519c", "#08306b"]; // one hue, light to dark
  var charts = [];

  function language() {
    return (document.documentElement.lang || "en").toLowerCase();
  }

  function locale() {
    return language().indexOf("zh") === 0 ? "ZH" : "EN";
  }

  function numberText(value, digits) {
    var lang = language().indexOf("zh") === 0 ? "zh-CN" : "en-US";
    return Number(value).toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function formatter(spec, compact) {
    return function (value) {
      if (value === null || value === undefined || value === "") { return "—"; }
      if (Array.isArray(value)) { value = value[value.length - 1]; }
      if (spec.percent) { return numberText(value, 1) + "%"; }
      if (spec.money) {
        var sign = value < 0 ? "-" : "";
        return sign + "¥" + numberText(Math.abs(value), compact ? 0 : 2);
      }
      return numberText(value, Number.isInteger(Number(value)) ? 0 : 1);
    };
  }

  function isEmpty(spec) {
    return !(spec.series || []).some(function (s) {
      return (s.data || []).some(function (point) {
        var value = Array.isArray(point) ? point[2] : point;
        return value !== null && value !== undefined && Number(value) !== 0;
      });
    });
  }

  function cartesianSeries(spec) {
    var type = spec.kind === "line" ? "line" : "bar";
    return spec.series.map(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      var out = { name: s.name, type: type, data: s.data, itemStyle: { color: color } };
      if (type === "line") {
        out.showSymbol = spec.categories.length <= 31;
        out.lineStyle = { width: 2, type: s.dashed ? "dashed" : "solid", color: color };
      } else if (s.dashed) {
        out.itemStyle = { color: "rgba(0,0,0,0)", borderColor: color, borderWidth: 1.5, borderType: "dashed" };
      }
      if (spec.kind === "stacked") { out.stack = "total"; }
      return out;
    });
  }

  function cartesianOption(spec) {
    var horizontal = spec.kind === "hbar";
    var valueAxis = { type: "value", splitNumber: horizontal ? 3 : 5,
      axisLabel: { formatter: formatter(spec, true), hideOverlap: true } };
    var categoryAxis = { type: "category", data: spec.categories, triggerEvent: spec.drill.length > 0,
      axisLabel: { hideOverlap: true } };
    if (horizontal) {  // long SKU names: cut with an ellipsis (the tooltip and the table view show them whole)
      categoryAxis.inverse = true;
      categoryAxis.axisLabel = { width: 150, overflow: "truncate" };
    }
    return {
      tooltip: { trigger: "axis", valueFormatter: formatter(spec, false) },
      legend: { show: spec.series.length > 1, top: 0 },
      grid: { left: 8, right: 16, top: spec.series.length > 1 ? 32 : 12, bottom: 8, containLabel: true },
      xAxis: horizontal ? valueAxis : categoryAxis,
      yAxis: horizontal ? categoryAxis : valueAxis,
      series: cartesianSeries(spec)
    };
  }

  function namedData(spec) {
    var data = (spec.series[0] || { data: [] }).data;
    return spec.categories.map(function (name, i) { return { name: name, value: data[i] }; });
  }

  function pieOption(spec) {
    return {
      tooltip: { trigger: "item", valueFormatter: formatter(spec, false) },
      legend: { type: "scroll", bottom: 0 },
      series: [{ type: "pie", radius: ["35%", "65%"], data: namedData(spec), label: { formatter: "{d}%" } }]
    };
  }

  function funnelOption(spec) {
    return {
      tooltip: { trigger: "item", valueFormatter: formatter(spec, false) },
      series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", data: namedData(spec),
        label: { show: true, position: "inside", formatter: "{b}" } }]
    };
  }

  function heatmapOption(spec) {
    var data = (spec.series[0] || { data: [] }).data;
    var max = data.reduce(function (m, p) { return Math.max(m, Number(p[2]) || 0); }, 0);
    return {
      tooltip: { trigger: "item", valueFormatter: formatter(spec, false) },
      grid: { left: 8, right: 16, top: 8, bottom: 56, containLabel: true },
      xAxis: { type: "category", data: spec.categories, splitArea: { show: true } },
      yAxis: { type: "category", data: spec.y_categories, inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: max || 1, calculable: true, orient: "horizontal", left: "center", bottom: 0,
        inRange: { color: HEAT } },
      series: [{ name: spec.series[0] ? spec.series[0].name : "", type: "heatmap", data: data,
        emphasis: { itemStyle: { borderColor: "#000", borderWidth: 1 } } }]
    };
  }

  function option(spec) {
    var build = { pie: pieOption, funnel: funnelOption, heatmap: heatmapOption }[spec.kind] || cartesianOption;
    var out = build(spec);
    out.color = PALETTE;
    out.aria = { enabled: true };
    out.animationDuration = 400;
    return out;
  }

  function drillIndex(spec, params) {
    if (params.componentType === "xAxis" || params.componentType === "yAxis") {
      return spec.categories.indexOf(params.value);
    }
    return spec.kind === "heatmap" ? -1 : params.dataIndex;
  }

  function bindDrill(chart, spec) {
    if (!spec.drill || !spec.drill.length) { return; }
    chart.on("click", function (params) {
      var url = spec.drill[drillIndex(spec, params)];
      if (url) { window.location.assign(url); }
    });
  }

  function showEmpty(el) {
    el.classList.add("vh-chart--empty");
    el.textContent = el.getAttribute("data-empty") || "";
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || !window.echarts) { return; }
    var spec = JSON.parse(source.textContent);
    spec.drill = spec.drill || [];
    if (isEmpty(spec)) { showEmpty(el); return; }
    var chart = window.echarts.init(el, null, { locale: locale(), renderer: "canvas" });
    chart.setOption(option(spec));
    bindDrill(chart, spec);
    if (spec.drill.length) { el.classList.add("vh-chart--drill"); }
    el.setAttribute("data-drawn", "true");
    charts.push(chart);
    if (window.ResizeObserver) {  // its box changes without a window resize too (a sidebar folds, a grid reflows)
      new window.ResizeObserver(function () { chart.resize(); }).observe(el);
    }
  }

  function drawAll() {
    var elements = document.querySelectorAll(".vh-chart:not([data-drawn])");
    Array.prototype.forEach.call(elements, draw);
  }

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) { window.clearTimeout(pending); }
    pending = window.setTimeout(function () {
      charts.forEach(function (chart) { chart.resize(); });
    }, 100);
  });

  window.VHCharts = { drawAll: drawAll, formatter: formatter };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
  // htmx swaps in new charts: draw them too.
  document.addEventListener("htmx:afterSettle", drawAll);
})();
