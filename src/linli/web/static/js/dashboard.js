// The dashboard's daily chart drawn by Apache ECharts (vendor/echarts), fed from the
// overview endpoint named by the chart's data-src. Until it has drawn (or without
// JavaScript) the server-drawn SVG chart stays in its place.
(function () {
  "use strict";
  var el = document.getElementById("echart");
  if (!el || !window.echarts || !window.fetch) return;
  fetch(el.getAttribute("data-src"), { credentials: "same-origin", headers: { accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (o) {
      var days = o.series.map(function (p) { return p.day.slice(5); });
      el.hidden = false;
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        animation: false,
        color: ["#f97316", "#2563eb"],
        // Drawn on the canvas: an HTML tooltip carries style attributes the CSP refuses.
        tooltip: { trigger: "axis", renderMode: "richText" },
        legend: { data: [el.getAttribute("data-gmv"), el.getAttribute("data-orders")] },
        grid: { left: 56, right: 40, top: 36, bottom: 28 },
        xAxis: { type: "category", data: days },
        yAxis: [
          { type: "value", name: "¥", axisLabel: { formatter: function (v) { return (v / 100).toFixed(0); } } },
          { type: "value", minInterval: 1, splitLine: { show: false } }
        ],
        series: [
          { name: el.getAttribute("data-gmv"), type: "bar", data: o.series.map(function (p) { return p.gmv; }),
            tooltip: { valueFormatter: function (v) { return "¥" + (v / 100).toFixed(2); } } },
          { name: el.getAttribute("data-orders"), type: "line", yAxisIndex: 1, data: o.series.map(function (p) { return p.orders; }) }
        ]
      });
      var svg = document.getElementById("svg-chart");
      if (svg) svg.hidden = true;
      el.setAttribute("data-ready", String(o.series.length));
      window.addEventListener("resize", function () { chart.resize(); });
    })
    .catch(function () { el.hidden = true; });
})();
