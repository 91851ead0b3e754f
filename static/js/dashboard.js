// The dashboard's charts (Apache ECharts, served from static/vendor): one per [data-chart] element, from the
// figures the page hands over in #dashboard-charts; each chart saves itself as a PNG (toolbox).
(function () {
  "use strict";
  const source = document.getElementById("dashboard-charts");
  if (!source || !window.echarts) return;
  const data = JSON.parse(source.textContent);
  const toolbox = { feature: { saveAsImage: { title: data.save, pixelRatio: 2 } }, right: 8 };
  const grid = { left: 40, right: 16, top: 36, bottom: 28, containLabel: true };
  const bar = (names, values, rotate) => ({
    toolbox, grid, tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: names, axisLabel: { rotate: rotate || 0, interval: 0, fontSize: 10 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", data: values, itemStyle: { color: "#0d6efd" } }],
  });
  const pie = (items) => ({
    toolbox, tooltip: { trigger: "item" }, legend: { type: "scroll", bottom: 0 },
    series: [{ type: "pie", radius: ["35%", "65%"], data: items, label: { show: false } }],
  });
  const build = {
    trend: () => ({
      toolbox, grid, tooltip: { trigger: "axis" }, legend: { data: data.trend.labels, top: 0, left: 0 },
      xAxis: { type: "category", data: data.trend.days },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: data.trend.labels[0], type: "line", data: data.trend.new, smooth: true },
        { name: data.trend.labels[1], type: "line", data: data.trend.closed, smooth: true },
      ],
    }),
    children: () => bar(data.children.names, data.children.new, 30),
    states: () => bar(data.states.names, data.states.n, 30),
    groups: () => pie(data.groups),
    sources: () => pie(data.sources),
    hours: () => bar(data.hours.hours, data.hours.new, 0),
  };
  const charts = [];
  document.querySelectorAll("[data-chart]").forEach((el) => {
    const make = build[el.dataset.chart];
    if (!make) return;
    const chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(make());
    charts.push(chart);
  });
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  if (window.bootstrap) {
    document.querySelectorAll('[data-bs-toggle="tooltip"]').forEach((el) => new window.bootstrap.Tooltip(el));
  }
})();
