import { useState } from "preact/hooks";
import * as api from "../api";
import { Badge, Button, Card, Empty, ErrorNote, Field, Loading, Page } from "../components/ui";
import { describeObject, fmtInt, fmtTime, today } from "../format";
import { attempt, toast, useLoad, useTimeZone } from "../state";

const LIMIT = 200;

export function AuditPage() {
  const tz = useTimeZone();
  const [since, setSince] = useState("");
  const [action, setAction] = useState("");
  const [applied, setApplied] = useState<{ since: string; action: string }>({ since: "", action: "" });
  const entries = useLoad(() => api.auditList(applied.since || null, applied.action || null, LIMIT), [applied]);
  const [verifying, setVerifying] = useState(false);
  const [verification, setVerification] = useState<api.AuditVerification | null>(null);
  const [exporting, setExporting] = useState(false);

  const verify = async () => {
    setVerifying(true);
    const result = await attempt(api.auditVerify);
    if (result) setVerification(result);
    setVerifying(false);
  };

  const exportCsv = async () => {
    setExporting(true);
    await attempt(async () => {
      const path = await api.pickSavePath(`chatkeep-audit_${today(tz)}.csv`);
      if (path === null) return;
      const written = await api.auditExport(path, applied.since || null, applied.action || null);
      toast({
        kind: "success",
        text: "Audit log exported as CSV.",
        detail: written,
        action: { label: "Show in folder", run: () => void attempt(() => api.showInFolder(written)) },
      });
    });
    setExporting(false);
  };

  return (
    <Page
      name="audit"
      title="Audit log"
      actions={
        <>
          <Button data-testid="audit-verify" busy={verifying} onClick={verify}>
            Verify chain
          </Button>
          <Button data-testid="audit-export" busy={exporting} onClick={exportCsv}>
            Export CSV…
          </Button>
        </>
      }
    >
      {verification && (
        <div class={`banner ${verification.first_break ? "bad" : "ok"}`} data-testid="audit-verify-result">
          {verification.first_break
            ? `The chain breaks at row ${verification.first_break.row_id}: ${verification.first_break.reason}`
            : `Chain intact: ${fmtInt(verification.rows_checked)} rows checked. ${
                verification.anchor
                  ? `It holds row ${fmtInt(verification.anchor.anchor.row)} as ${verification.anchor.from} recorded it.`
                  : "No backup records its head yet, so only the chain itself was checked."
              }`}
        </div>
      )}
      <Card>
        <form
          class="inline-form wrap"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied({ since: since.trim(), action: action.trim() });
          }}
        >
          <Field label="Action" hint="e.g. backup.create, retention.run, hold.place">
            <input type="text" data-testid="audit-action" value={action} onInput={(e) => setAction(e.currentTarget.value)} placeholder="any action" />
          </Field>
          <Field label="Since" hint="YYYY-MM-DD or an RFC 3339 time">
            <input type="text" data-testid="audit-since" value={since} onInput={(e) => setSince(e.currentTarget.value)} placeholder="the beginning" />
          </Field>
          <Button type="submit" data-testid="audit-filter">
            Filter
          </Button>
          {(applied.since || applied.action) && (
            <Button
              onClick={() => {
                setSince("");
                setAction("");
                setApplied({ since: "", action: "" });
              }}
            >
              Clear
            </Button>
          )}
        </form>
        <ErrorNote message={entries.error} />
        {!entries.data && !entries.error && <Loading />}
        {entries.data && entries.data.length === 0 && <Empty title="No entries match">Every change chatkeep makes is recorded here.</Empty>}
        {entries.data && entries.data.length > 0 && (
          <>
            <table class="table" data-testid="audit-table">
              <thead>
                <tr>
                  <th>#</th>
                  <th>When</th>
                  <th>Who</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {entries.data.map((e) => (
                  <tr key={e.id} data-testid="audit-row" data-id={e.id}>
                    <td>{e.id}</td>
                    <td class="nowrap">{fmtTime(e.at, tz)}</td>
                    <td>
                      <Badge tone="muted">{e.actor}</Badge>
                    </td>
                    <td class="mono small">{e.action}</td>
                    <td class="small wrap">{e.target}</td>
                    <td class="small wrap details" title={e.counts ?? ""}>
                      {describeObject(e.details)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {entries.data.length >= LIMIT && <p class="muted small">The newest {LIMIT} entries; narrow the filter or export to see more.</p>}
          </>
        )}
      </Card>
    </Page>
  );
}
