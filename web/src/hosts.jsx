// Hosts: capacity, usage (from each host's metrics endpoint), online state and versions.
import { bytes, pct, when } from './format.js';

export function Hosts({ fleet }) {
  return (
    <section aria-labelledby="hosts-title">
      <h1 id="hosts-title">Hosts</h1>
      <table id="hosts">
        <caption>{fleet.hosts.length} hosts</caption>
        <thead>
          <tr>
            <th scope="col">Host</th>
            <th scope="col">Status</th>
            <th scope="col">Versions</th>
            <th scope="col">CPU</th>
            <th scope="col">Memory</th>
            <th scope="col">Disk</th>
            <th scope="col">Nodes</th>
          </tr>
        </thead>
        <tbody>
          {fleet.hosts.map((h) => {
            const u = h.usage;
            return (
              <tr key={h.id}>
                <th scope="row">
                  {h.name}
                  <div class="muted">{h.region || ''}</div>
                </th>
                <td>
                  <span class={`badge ${h.online ? 'state-running' : 'state-failed'}`}>
                    {h.online ? 'online' : 'offline'}
                  </span>
                  <div class="muted">seen {when(h.last_seen_ms)}</div>
                  {h.scrape_error && <div class="muted">metrics: {h.scrape_error}</div>}
                </td>
                <td>
                  bv {h.bv_version}
                  <div class="muted">
                    {h.os} {h.os_version}
                  </div>
                </td>
                <td>
                  {h.cpu_cores} cores
                  {u && <div class="muted">{u.cpu_percent.toFixed(0)} % used, load {u.load1.toFixed(2)}</div>}
                </td>
                <td>
                  {u ? `${bytes(u.memory_used_bytes)} of ${bytes(u.memory_total_bytes)}` : bytes(h.memory_bytes)}
                  {u && <div class="muted">{pct(u.memory_used_bytes, u.memory_total_bytes)}</div>}
                </td>
                <td>
                  {u ? `${bytes(u.disk_used_bytes)} of ${bytes(u.disk_total_bytes)}` : bytes(h.disk_bytes)}
                  {u && <div class="muted">{pct(u.disk_used_bytes, u.disk_total_bytes)}</div>}
                </td>
                <td class="num">{h.node_count}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
