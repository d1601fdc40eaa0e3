// Messages per month, as bars (uPlot).

import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { MonthStats } from "../api";
import { fmtInt } from "../format";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function monthLabel(index: number, months: MonthStats[]): string {
  const month = months[index]?.month ?? "";
  const [year, m] = month.split("-");
  const name = MONTHS[Number(m) - 1] ?? month;
  return m === "01" || index === 0 ? `${name} ${year}` : name;
}

export function MonthChart(props: { months: MonthStats[]; height?: number }) {
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return undefined;
    const months = props.months;
    const xs = months.map((_, i) => i);
    const ys = months.map((m) => m.messages);
    const bars = uPlot.paths.bars?.({ size: [0.7, 48], align: 0 });
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height: props.height ?? 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: false, range: [-0.5, Math.max(months.length - 0.5, 0.5)] }, y: { range: (_u, _min, max) => [0, Math.max(max * 1.1, 1)] } },
      axes: [
        {
          stroke: "#6b7280",
          grid: { show: false },
          ticks: { show: false },
          splits: () => xs,
          values: (_u, splits) => splits.map((i) => monthLabel(i, months)),
          font: "11px system-ui, sans-serif",
        },
        {
          stroke: "#6b7280",
          grid: { stroke: "#eef0f3", width: 1 },
          ticks: { show: false },
          values: (_u, splits) => splits.map((v) => fmtInt(v)),
          font: "11px system-ui, sans-serif",
          size: 56,
        },
      ],
      series: [
        {},
        {
          label: "Messages",
          fill: "rgba(79, 70, 229, 0.75)",
          stroke: "rgb(79, 70, 229)",
          width: 0,
          ...(bars ? { paths: bars } : {}),
          points: { show: false },
        },
      ],
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            const tip = element.querySelector<HTMLElement>(".chart-tip");
            if (!tip) return;
            const month = i === null || i === undefined ? undefined : months[i];
            if (!month) {
              tip.style.display = "none";
              return;
            }
            tip.style.display = "block";
            tip.textContent = `${month.month}: ${fmtInt(month.messages)} messages`;
            tip.style.left = `${Math.min((u.cursor.left ?? 0) + 60, element.clientWidth - 160)}px`;
          },
        ],
      },
    };
    const plot = new uPlot(options, [xs, ys], element);
    const tip = document.createElement("div");
    tip.className = "chart-tip";
    element.appendChild(tip);
    const observer = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(element.clientWidth, 200), height: props.height ?? 220 });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
      tip.remove();
    };
  }, [props.months, props.height]);

  return <div class="chart" ref={host} aria-label="Messages per month" role="img" />;
}
