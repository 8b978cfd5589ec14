// ECharts, tree-shaken to what the dashboard draws: scatter and line
// charts on a cartesian grid, parallel coordinates and custom series (the
// Pareto scatter's error bars), with tooltip, legend and zoom, on canvas.
import * as echarts from "echarts/core";
import { ScatterChart, LineChart, ParallelChart, CustomChart } from "echarts/charts";
import { GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, ParallelComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([ScatterChart, LineChart, ParallelChart, CustomChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, ParallelComponent, CanvasRenderer]);

/** chart creates (or returns) the chart drawn in el, resized with the window. */
export function chart(el) {
  const existing = echarts.getInstanceByDom(el);
  if (existing) return existing;
  const c = echarts.init(el, null, { renderer: "canvas" });
  const ro = new ResizeObserver(() => c.resize());
  ro.observe(el);
  return c;
}

/** disposeChart frees a chart. */
export function disposeChart(el) {
  const c = echarts.getInstanceByDom(el);
  if (c) c.dispose();
}
