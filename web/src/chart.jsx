// A time-series chart drawn by uPlot. `series` is [{ label, values, scale }] aligned with
// `times` (seconds since the epoch); a second scale, when used, gets its own axis on the right.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#be185d'];

export function Chart({ title, times, series, height = 220, description }) {
  const box = useRef(null);
  const plot = useRef(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const scales = [...new Set(series.map((s) => s.scale || 'y'))];
    const opts = {
      title,
      width: Math.max(el.clientWidth, 320),
      height,
      scales: Object.fromEntries(scales.map((s) => [s, {}])),
      axes: [
        {},
        ...scales.map((s, i) => ({
          scale: s,
          side: i === 0 ? 3 : 1,
          label: series.find((x) => (x.scale || 'y') === s).axis || '',
          grid: { show: i === 0 },
        })),
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          scale: s.scale || 'y',
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
        })),
      ],
    };
    const data = [times, ...series.map((s) => s.values)];
    plot.current = new uPlot(opts, data, el);
    const resize = () => plot.current && plot.current.setSize({ width: Math.max(el.clientWidth, 320), height });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.current.destroy();
      plot.current = null;
    };
  }, [title, series.length, series.map((s) => s.label).join('|')]);

  useEffect(() => {
    if (plot.current) plot.current.setData([times, ...series.map((s) => s.values)]);
  }, [times, series]);

  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={description || title} />
    </figure>
  );
}
