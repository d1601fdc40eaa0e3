import { useState } from "preact/hooks";
import * as api from "../api";
import { Badge, Button, Card, Empty, ErrorNote, Loading, Page, StatusBadge } from "../components/ui";
import { describeObject, fmtAge, fmtTime } from "../format";
import { refreshAll, toast, useLoad, useTimeZone } from "../state";

export function JobsPage() {
  const tz = useTimeZone();
  const jobs = useLoad(api.jobsList);
  const [historyJob, setHistoryJob] = useState("");
  const history = useLoad(() => api.jobsHistory(historyJob || null, 50), [historyJob]);
  const [busy, setBusy] = useState<string | null>(null);

  const act = async (key: string, run: () => Promise<string>) => {
    setBusy(key);
    try {
      toast({ kind: "success", text: await run() });
    } catch (e) {
      toast({ kind: "error", text: api.errorMessage(e) });
    } finally {
      setBusy(null);
      refreshAll();
    }
  };

  const runNow = (job: string) =>
    act(`run-${job}`, async () => {
      const runs = await api.jobsRun(job);
      const failed = runs.find((r) => r.status === "failed");
      if (failed) throw { code: "job_failed", message: `${job} failed: ${failed.error ?? "see the history"}` };
      return `${job} ran: ${runs.map((r) => `${r.job} ${r.status}`).join(", ")}.`;
    });
  const pause = (job: string | null, paused: boolean) =>
    act(`pause-${job ?? "all"}`, async () => {
      await (paused ? api.jobsResume(job) : api.jobsPause(job));
      return `${job ?? "The schedule"} ${paused ? "resumed" : "paused"}.`;
    });

  const data = jobs.data;
  return (
    <Page
      name="jobs"
      title="Jobs"
      actions={
        data && (
          <Button
            data-testid="jobs-pause-all"
            busy={busy === "pause-all"}
            variant={data.schedule_paused ? "primary" : undefined}
            onClick={() => pause(null, data.schedule_paused)}
          >
            {data.schedule_paused ? "Resume schedule" : "Pause schedule"}
          </Button>
        )
      }
    >
      <p class="muted">Jobs run on schedule while the app is open (in the tray) or under <code>chatkeep daemon</code>. Missed runs are caught up at start.</p>
      {data?.schedule_paused && (
        <div class="banner warn">The whole schedule is paused: no job runs on schedule until it is resumed. Run now still works.</div>
      )}
      <Card title="Schedule">
        <ErrorNote message={jobs.error} />
        {!data && !jobs.error && <Loading />}
        {data && (
          <table class="table">
            <thead>
              <tr>
                <th>Job</th>
                <th>Schedule</th>
                <th>Next run</th>
                <th>Last run</th>
                <th>Problems</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.jobs.map((j) => (
                <tr key={j.job} data-testid="job-row" data-job={j.job}>
                  <td>
                    <strong>{j.job}</strong>
                    <div class="muted small">{j.about}</div>
                  </td>
                  <td>
                    {j.schedule_text} <span class="mono small muted">{j.schedule}</span>
                    <div class="muted small">catch-up: {j.catch_up.replace(/_/g, " ")}</div>
                  </td>
                  <td>{j.paused ? <Badge tone="warn">paused</Badge> : j.next_run_local ?? fmtTime(j.next_run, tz)}</td>
                  <td>
                    {j.last_run ? (
                      <>
                        <StatusBadge status={j.last_run.status} /> <span class="small">{fmtAge(j.last_run.started_at)}</span>
                      </>
                    ) : (
                      <span class="muted">never</span>
                    )}
                  </td>
                  <td>
                    {j.failing && (
                      <div>
                        <Badge tone="bad">failing</Badge> <span class="small">{j.failing.error}</span>
                      </div>
                    )}
                    {j.missed_last_7_days > 0 && (
                      <div>
                        <Badge tone="warn">missed {j.missed_last_7_days}× in 7 days</Badge>
                        {j.last_missed && <span class="small muted"> last {fmtTime(j.last_missed.scheduled_for ?? j.last_missed.started_at, tz)}</span>}
                      </div>
                    )}
                  </td>
                  <td class="row-actions">
                    <Button class="btn-small" data-testid="job-run" busy={busy === `run-${j.job}`} onClick={() => runNow(j.job)}>
                      Run now
                    </Button>
                    <Button class="btn-small" data-testid="job-pause" busy={busy === `pause-${j.job}`} onClick={() => pause(j.job, j.paused)}>
                      {j.paused ? "Resume" : "Pause"}
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Card
        title="History"
        actions={
          <select aria-label="Job" data-testid="jobs-history-job" value={historyJob} onChange={(e) => setHistoryJob(e.currentTarget.value)}>
            <option value="">All jobs</option>
            {data?.jobs.map((j) => (
              <option key={j.job} value={j.job}>
                {j.job}
              </option>
            ))}
          </select>
        }
      >
        <ErrorNote message={history.error} />
        {history.data && history.data.length === 0 && <Empty title="No runs yet">Runs appear here as the schedule runs jobs, or when you press Run now.</Empty>}
        {history.data && history.data.length > 0 && (
          <table class="table" data-testid="jobs-history">
            <thead>
              <tr>
                <th>#</th>
                <th>Job</th>
                <th>Scheduled for</th>
                <th>Started</th>
                <th>Status</th>
                <th>Trigger</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((r) => (
                <tr key={r.id}>
                  <td>{r.id}</td>
                  <td>{r.job}</td>
                  <td>{fmtTime(r.scheduled_for, tz)}</td>
                  <td>{fmtTime(r.started_at, tz)}</td>
                  <td>
                    <StatusBadge status={r.status} />
                    {r.attempt > 1 && <span class="muted small"> attempt {r.attempt}</span>}
                  </td>
                  <td class="muted">{r.trigger}</td>
                  <td class="small">{r.error ? <span class="error-text">{r.error}</span> : describeObject(r.summary)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p class="muted small">The newest 50 runs.</p>
      </Card>
    </Page>
  );
}
