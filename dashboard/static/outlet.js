// The outlet page: a bar chart of the top items, drawn from the figures the server rendered.
(function () {
  "use strict";
  const holder = document.getElementById("top-items-chart");
  const source = document.getElementById("top-items-data");
  if (!holder || !source || typeof frappe === "undefined") return;
  const items = JSON.parse(source.textContent);
  new frappe.Chart(holder, {
    type: "bar",
    height: 260,
    colors: ["#2490ef"],
    data: {
      labels: items.map((item) => item.item_name),
      datasets: [{ name: "Amount", values: items.map((item) => item.total_amount) }],
    },
    axisOptions: { xAxisMode: "tick", xIsSeries: false },
    barOptions: { spaceRatio: 0.4 },
    animate: false, // draw at once: the figures are already final
  });
})();
