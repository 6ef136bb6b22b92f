// A job's log, read from its host while the panel is open: every poll keeps the watch
// alive on bv-api, the host sends the last lines with its next report, and the panel shows
// the newest lines it has.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { when } from './format.js';

const POLL_MS = 2000;

export function JobLog({ nodeId, job }) {
  const [log, setLog] = useState(null);
  const [error, setError] = useState('');
  const pre = useRef(null);
  useEffect(() => {
    let stopped = false;
    const poll = () =>
      api.jobLog(nodeId, job).then(
        (l) => {
          if (!stopped) {
            setLog(l);
            setError('');
          }
        },
        (e) => !stopped && setError(e.message),
      );
    poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [nodeId, job]);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [log]);
  const id = `log-${job}`;
  let status;
  if (error) status = <p class="error" role="alert">{error}</p>;
  else if (!log || !log.at_ms) status = <p class="muted">Asking the host for the last lines…</p>;
  else if (log.error) status = <p class="error">The host could not read the log: {log.error}</p>;
  else status = <p class="muted">{log.lines.length} lines, read {when(log.at_ms)}; refreshes while open.</p>;
  return (
    <div class="joblog">
      <h3 id={`${id}-title`}>Log of job {job}</h3>
      {status}
      {log && log.lines.length > 0 && (
        <pre ref={pre} id={id} role="log" aria-labelledby={`${id}-title`} tabIndex={0} class="log">
          {log.lines.join('\n')}
        </pre>
      )}
    </div>
  );
}
