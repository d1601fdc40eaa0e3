import { useState } from "preact/hooks";
import * as api from "../api";
import { Badge, Card, Empty, ErrorNote, Loading, Page, StatusBadge, type Tone } from "../components/ui";
import { daysUntil, fmtTime, today } from "../format";
import { useLoad, useTimeZone } from "../state";

/** How close a request is to its deadline (the default `gdpr.due_soon_days` is 7). */
function deadline(r: api.GdprRequest, todayDay: string, tz: string | undefined): { tone: Tone; text: string } {
  if (r.status === "done" || r.status === "rejected") return { tone: "muted", text: fmtTime(r.due_at, tz).slice(0, 10) };
  const days = daysUntil(r.due_at, todayDay, tz);
  if (days < 0) return { tone: "bad", text: `overdue by ${-days} day${days === -1 ? "" : "s"}` };
  if (days === 0) return { tone: "bad", text: "due today" };
  if (days <= 7) return { tone: "warn", text: `due in ${days} day${days === 1 ? "" : "s"}` };
  return { tone: "ok", text: `due in ${days} days` };
}

export function GdprPage() {
  const tz = useTimeZone();
  const [all, setAll] = useState(false);
  const requests = useLoad(() => api.gdprRequests(all), [all]);
  const todayDay = today(tz);
  return (
    <Page name="gdpr" title="GDPR requests">
      <p class="muted">
        The dashboard lists requests and their deadlines. Recording a request, the access export and erasure stay in the
        command line for now: <code>chatkeep gdpr find</code>, <code>chatkeep gdpr request new</code>,{" "}
        <code>chatkeep gdpr export</code>, <code>chatkeep gdpr erase</code>. The daily gdpr job notifies requests that are
        due soon or overdue.
      </p>
      <Card
        title="Requests"
        actions={
          <label class="check small">
            <input type="checkbox" data-testid="gdpr-all" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> Include done and rejected
          </label>
        }
      >
        <ErrorNote message={requests.error} />
        {!requests.data && !requests.error && <Loading />}
        {requests.data && requests.data.length === 0 && (
          <Empty title={all ? "No requests recorded" : "No open requests"}>
            Record one with <code>chatkeep gdpr request new access ana@example.org</code>; it is due one calendar month after receipt.
          </Empty>
        )}
        {requests.data && requests.data.length > 0 && (
          <table class="table">
            <thead>
              <tr>
                <th>#</th>
                <th>Kind</th>
                <th>Subject</th>
                <th>Received</th>
                <th>Due</th>
                <th>Status</th>
                <th>Notes</th>
              </tr>
            </thead>
            <tbody>
              {requests.data.map((r) => {
                const d = deadline(r, todayDay, tz);
                return (
                  <tr key={r.id} data-testid="gdpr-row" data-id={r.id} data-status={r.status}>
                    <td>{r.id}</td>
                    <td>{r.kind}</td>
                    <td class="mono">{r.subject}</td>
                    <td>{fmtTime(r.received_at, tz).slice(0, 10)}</td>
                    <td>
                      <Badge tone={d.tone}>{d.text}</Badge>
                      {r.extended_reason && <div class="muted small">extended: {r.extended_reason}</div>}
                    </td>
                    <td>
                      <StatusBadge status={r.status} />
                      {r.completed_at && <div class="muted small">{fmtTime(r.completed_at, tz)}</div>}
                    </td>
                    <td class="small">{r.rejected_reason ?? r.notes ?? ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
    </Page>
  );
}
