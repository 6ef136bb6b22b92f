// The fleet at a glance: counts by state, open alerts, host usage, and height / block-age
// panels of every node (the same panels as dashboards/nodes.json in Grafana).
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Chart } from './chart.jsx';
import { pct } from './format.js';

// Aligns per-node samples on the union of their timestamps.
function align(history, nodes, field) {
  const times = [...new Set(Object.values(history).flatMap((h) => h.map((p) => p.at_ms)))].sort((a, b) => a - b);
  const series = nodes
    .filter((n) => history[n.id] && history[n.id].length > 0)
    .map((n) => {
      const byTime = new Map(history[n.id].map((p) => [p.at_ms, p[field]]));
      return { label: n.display_name || n.name, values: times.map((t) => byTime.get(t) ?? null) };
    });
  return { times: times.map((t) => t / 1000), series };
}

export function Overview({ fleet }) {
  const [history, setHistory] = useState({});
  useEffect(() => {
    api.history().then(setHistory, () => setHistory({}));
  }, [fleet]);
  const states = {};
  for (const n of fleet.nodes) states[n.state] = (states[n.state] || 0) + 1;
  const alerts = fleet.nodes.flatMap((n) => n.alerts.map((a) => ({ node: n, ...a })));
  const heights = align(history, fleet.nodes, 'height');
  const ages = align(history, fleet.nodes, 'block_age_secs');
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Fleet overview</h1>
      <ul class="stats" aria-label="Fleet figures">
        <li><strong>{fleet.hosts.filter((h) => h.online).length}/{fleet.hosts.length}</strong> hosts online</li>
        <li><strong>{fleet.nodes.length}</strong> nodes</li>
        {Object.entries(states).map(([s, c]) => (
          <li><strong>{c}</strong> {s}</li>
        ))}
        <li class={alerts.length ? 'has-alerts' : ''}><strong>{alerts.length}</strong> open alerts</li>
      </ul>
      <h2>Open alerts</h2>
      {alerts.length === 0 ? (
        <p>None.</p>
      ) : (
        <ul class="alerts" id="open-alerts">
          {alerts.map((a) => (
            <li class="alert">
              <a href={`#/nodes/${a.node.id}`}>{a.node.display_name || a.node.name}</a>: <strong>{a.kind}</strong> {a.message}
            </li>
          ))}
        </ul>
      )}
      <h2>Host usage</h2>
      <table>
        <caption>Usage from each host's last report</caption>
        <thead>
          <tr><th scope="col">Host</th><th scope="col">CPU</th><th scope="col">Memory</th><th scope="col">Disk</th></tr>
        </thead>
        <tbody>
          {fleet.hosts.map((h) => (
            <tr>
              <th scope="row">{h.name}</th>
              <td><meter min="0" max="100" value={h.usage ? h.usage.cpu_percent : 0} aria-label={`${h.name} CPU`} /> {h.usage ? `${h.usage.cpu_percent.toFixed(0)} %` : '–'}</td>
              <td><meter min="0" max="1" value={h.usage && h.usage.memory_total_bytes ? h.usage.memory_used_bytes / h.usage.memory_total_bytes : 0} aria-label={`${h.name} memory`} /> {h.usage ? pct(h.usage.memory_used_bytes, h.usage.memory_total_bytes) : '–'}</td>
              <td><meter min="0" max="1" value={h.usage && h.usage.disk_total_bytes ? h.usage.disk_used_bytes / h.usage.disk_total_bytes : 0} aria-label={`${h.name} disk`} /> {h.usage ? pct(h.usage.disk_used_bytes, h.usage.disk_total_bytes) : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="panels">
        {heights.series.length > 0 && heights.times.length > 1 && (
          <Chart title="Block height" times={heights.times} series={heights.series} description="Block height of every node over time" />
        )}
        {ages.series.length > 0 && ages.times.length > 1 && (
          <Chart title="Block age (seconds)" times={ages.times} series={ages.series} description="Age of the latest block of every node over time" />
        )}
      </div>
    </section>
  );
}
