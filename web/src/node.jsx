// One node: summary, alerts, jobs with their logs, a height / block-age chart of its status
// history, and the commands the API sent its host.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Chart } from './chart.jsx';
import { JobLog } from './joblog.jsx';
import { age, num, when } from './format.js';
import { NodeActions, StateBadge } from './nodes.jsx';

export function NodeDetail({ id, fleet, act, canWrite }) {
  const [detail, setDetail] = useState(null);
  const [error, setError] = useState('');
  const [openLog, setOpenLog] = useState(null);
  useEffect(() => {
    api.node(id).then(setDetail, (e) => setError(e.message));
  }, [id, fleet]);
  if (error) return <p role="alert">{error}</p>;
  if (!detail) return <p>Loading…</p>;
  const n = detail.node;
  const times = detail.history.map((p) => p.at_ms / 1000);
  return (
    <section aria-labelledby="node-title">
      <p>
        <a href="#/nodes">← All nodes</a>
      </p>
      <h1 id="node-title">{n.display_name || n.name}</h1>
      <dl class="summary">
        <dt>State</dt>
        <dd><StateBadge state={n.state} /> (wanted: {n.next_state})</dd>
        <dt>Protocol</dt>
        <dd>{n.protocol} / {n.variant} {n.version} (build {n.build})</dd>
        <dt>Host</dt>
        <dd>{n.host_name}</dd>
        <dt>Protocol status</dt>
        <dd>{n.protocol_state || '–'} ({n.protocol_health || '–'})</dd>
        <dt>Height</dt>
        <dd>{num(n.height)}</dd>
        <dt>Block age</dt>
        <dd>{age(n.block_age_secs)}</dd>
        <dt>Tags</dt>
        <dd>{n.tags.join(', ') || '–'}</dd>
      </dl>
      <NodeActions node={n} act={act} canWrite={canWrite} />

      <h2>Alerts</h2>
      {n.alerts.length === 0 ? (
        <p>No open alerts.</p>
      ) : (
        <ul class="alerts">
          {n.alerts.map((a) => (
            <li class="alert"><strong>{a.kind}</strong> {a.message}</li>
          ))}
        </ul>
      )}

      <h2>Status history</h2>
      {times.length < 2 ? (
        <p>Not enough samples yet (one per report of the host).</p>
      ) : (
        <Chart
          title="Height and block age"
          description={`Height from ${num(detail.history[0].height)} to ${num(detail.history[detail.history.length - 1].height)} over the last ${times.length} samples`}
          times={times}
          series={[
            { label: 'height', values: detail.history.map((p) => p.height), scale: 'h', axis: 'height' },
            { label: 'block age (s)', values: detail.history.map((p) => p.block_age_secs), scale: 's', axis: 'seconds' },
          ]}
        />
      )}

      <h2>Jobs</h2>
      <table>
        <caption>Jobs as the host's last health check saw them</caption>
        <thead>
          <tr><th scope="col">Job</th><th scope="col">Status</th><th scope="col">Restarts (24 h)</th><th scope="col">Log</th></tr>
        </thead>
        <tbody>
          {n.jobs.map((j) => (
            <tr>
              <th scope="row">{j.name}</th>
              <td>{j.status}</td>
              <td class="num">{j.restarts}</td>
              <td>
                <button
                  type="button"
                  aria-expanded={openLog === j.name ? 'true' : 'false'}
                  aria-controls="job-log-panel"
                  onClick={() => setOpenLog(openLog === j.name ? null : j.name)}
                >
                  {openLog === j.name ? 'Hide log' : 'Show log'}<span class="sr-only"> of {j.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div id="job-log-panel">
        {openLog && <JobLog nodeId={n.id} job={openLog} />}
      </div>

      <h2>Commands</h2>
      <table>
        <caption>Commands sent to the host, newest first</caption>
        <thead>
          <tr><th scope="col">Command</th><th scope="col">Sent</th><th scope="col">Done</th><th scope="col">Result</th></tr>
        </thead>
        <tbody>
          {detail.commands.map((c) => (
            <tr>
              <th scope="row">{c.kind}</th>
              <td>{when(c.created_ms)}</td>
              <td>{when(c.completed_ms)}</td>
              <td>{c.exit_code || 'pending'} {c.message || ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
