import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { DateRangePicker } from "../components/date-range";
import { Button, Card, ErrorNote, Field, Page, ProgressBar } from "../components/ui";
import { fmtBytes, fmtInt, quickRange, today, type Day } from "../format";
import { attempt, toast, useTimeZone } from "../state";

const FORMAT_LABELS: Record<api.ExportFormat, string> = {
  csv: "CSV (spreadsheets)",
  json: "JSON (one document)",
  jsonl: "JSONL (one line per conversation)",
  pdf: "PDF (to read and print)",
};

const QUICK: { kind: "last-month" | "last-30-days" | "this-year"; label: string }[] = [
  { kind: "last-month", label: "Last month" },
  { kind: "last-30-days", label: "Last 30 days" },
  { kind: "this-year", label: "This year" },
];

function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function ExportPage() {
  const tz = useTimeZone();
  const todayDay = today(tz);
  const [initialFrom, initialTo] = quickRange("last-month", todayDay);
  const [from, setFrom] = useState<Day>(initialFrom);
  const [to, setTo] = useState<Day>(initialTo);
  const [format, setFormat] = useState<api.ExportFormat>("csv");
  const [includeMessages, setIncludeMessages] = useState(true);
  const [conversations, setConversations] = useState("");
  const [user, setUser] = useState("");
  const [kinds, setKinds] = useState("");
  const [includeExpired, setIncludeExpired] = useState(false);
  const [bom, setBom] = useState(false);
  const [rawCsv, setRawCsv] = useState(false);
  const [running, setRunning] = useState(false);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<api.ExportReport | null>(null);

  useEffect(() => {
    const unlisten = api.onProgress((p) => {
      if (p.operation === "export") setProgress({ done: p.done, total: p.total });
    });
    return () => void unlisten.then((f) => f());
  }, []);

  const options = (): api.ExportOptions => ({
    from,
    to,
    format,
    includeMessages,
    conversations: splitList(conversations),
    user: user.trim() || null,
    kinds: splitList(kinds),
    includeExpired,
    bom: format === "csv" && bom,
    rawCsv: format === "csv" && rawCsv,
  });

  const run = async () => {
    setError(null);
    setResult(null);
    const chosen = options();
    setRunning(true);
    try {
      const name = await api.exportFileName(chosen);
      const path = await api.pickSavePath(name);
      if (path === null) return;
      setProgress({ done: 0, total: 0 });
      const report = await api.exportRun(chosen, path);
      setResult(report);
      if (report.cancelled) {
        toast({ kind: "info", text: "Export cancelled; the partial file was removed." });
      } else {
        toast({
          kind: "success",
          testid: "export-done",
          text: `Exported ${fmtInt(report.messages)} messages in ${fmtInt(report.conversations)} conversations.`,
          detail: report.path,
          action: { label: "Show in folder", run: () => void attempt(() => api.showInFolder(report.path)) },
        });
      }
    } catch (e) {
      setError(api.errorMessage(e));
    } finally {
      setRunning(false);
      setProgress(null);
    }
  };

  return (
    <Page name="export" title="Export">
      <Card title="Date range">
        <div class="quick-ranges">
          {QUICK.map((q) => (
            <Button
              key={q.kind}
              class="btn-small"
              data-testid={`export-quick-${q.kind}`}
              onClick={() => {
                const [f, t] = quickRange(q.kind, todayDay);
                setFrom(f);
                setTo(t);
              }}
            >
              {q.label}
            </Button>
          ))}
          <span class="muted">Days are whole days in {tz ?? "the configured time zone"}, both ends included.</span>
        </div>
        <DateRangePicker
          from={from}
          to={to}
          latest={todayDay}
          onChange={(f, t) => {
            setFrom(f);
            setTo(t);
          }}
          fromTestId="export-from"
          toTestId="export-to"
        />
      </Card>
      <Card title="What to export">
        <div class="form-grid">
          <Field label="Format">
            <select data-testid="export-format" value={format} onChange={(e) => setFormat(e.currentTarget.value as api.ExportFormat)}>
              {api.EXPORT_FORMATS.map((f) => (
                <option key={f} value={f}>
                  {FORMAT_LABELS[f]}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Contents">
            <select
              data-testid="export-messages"
              value={includeMessages ? "with" : "without"}
              onChange={(e) => setIncludeMessages(e.currentTarget.value === "with")}
            >
              <option value="with">Conversations with their messages</option>
              <option value="without">Conversations only (no message bodies)</option>
            </select>
          </Field>
          <Field label="Conversation ids" hint="Separated by commas or spaces; empty means all.">
            <input type="text" data-testid="export-conversations" value={conversations} onInput={(e) => setConversations(e.currentTarget.value)} placeholder="all conversations" />
          </Field>
          <Field label="User" hint="Only conversations this user takes part in.">
            <input type="text" data-testid="export-user" value={user} onInput={(e) => setUser(e.currentTarget.value)} placeholder="any user" />
          </Field>
          <Field label="Conversation kinds" hint="Separated by commas; empty means all kinds.">
            <input type="text" data-testid="export-kinds" value={kinds} onInput={(e) => setKinds(e.currentTarget.value)} placeholder="all kinds" />
          </Field>
          <div class="checks">
            <label class="check">
              <input type="checkbox" data-testid="export-include-expired" checked={includeExpired} onChange={(e) => setIncludeExpired(e.currentTarget.checked)} />
              Include expired messages still in their grace period
            </label>
            <label class={`check ${format === "csv" ? "" : "disabled"}`}>
              <input type="checkbox" data-testid="export-bom" checked={bom && format === "csv"} disabled={format !== "csv"} onChange={(e) => setBom(e.currentTarget.checked)} />
              Byte order mark (for Excel on Windows; CSV only)
            </label>
            <label class={`check ${format === "csv" ? "" : "disabled"}`}>
              <input type="checkbox" data-testid="export-raw-csv" checked={rawCsv && format === "csv"} disabled={format !== "csv"} onChange={(e) => setRawCsv(e.currentTarget.checked)} />
              Keep cells that start with = + - @ as they are (by default they get a leading ' so a spreadsheet shows them instead of running them)
            </label>
          </div>
        </div>
        <div class="form-actions">
          <Button variant="primary" data-testid="export-submit" busy={running} onClick={run}>
            Export…
          </Button>
          <span class="muted">
            {from} to {to}, {format.toUpperCase()}. You choose where to save it next.
          </span>
        </div>
        {running && progress && (
          <div class="progress-row">
            <ProgressBar testid="export-progress" done={progress.done} total={progress.total} label="Exporting" />
            <Button data-testid="export-cancel" onClick={() => void attempt(() => api.cancel("export"))}>
              Cancel
            </Button>
          </div>
        )}
        <ErrorNote message={error} testid="export-error" />
        {result && !result.cancelled && (
          <div class="result" data-testid="export-result">
            Wrote <span class="mono">{result.path}</span> ({fmtBytes(result.bytes)}, {fmtInt(result.messages)} messages,{" "}
            {fmtInt(result.conversations)} conversations). SHA-256 <span class="mono small">{result.sha256}</span>
          </div>
        )}
      </Card>
    </Page>
  );
}
