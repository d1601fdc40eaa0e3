import { useState } from "preact/hooks";
import * as api from "../api";
import { Badge, Button, Card, Dialog, Empty, ErrorNote, Loading, Page, StatusBadge } from "../components/ui";
import { fmtBytes, fmtInt, fmtTime, parseObject, recentMonths, today } from "../format";
import { attempt, toast, useAppInfo, useLoad, useTimeZone } from "../state";

function rangeText(b: api.Backup, tz: string | undefined): string {
  if (b.kind === "archive" && b.year !== null && b.month !== null) return `${b.year}-${String(b.month).padStart(2, "0")}`;
  if (b.range_start) return `${fmtTime(b.range_start, tz)} – ${fmtTime(b.range_end, tz)}`;
  return `everything up to ${fmtTime(b.range_end ?? b.created_at, tz)}`;
}

function describe(b: api.Backup, tz: string | undefined): string {
  return b.kind === "archive" ? `archive #${b.id} of ${rangeText(b, tz)}` : `snapshot #${b.id} of ${fmtTime(b.range_end ?? b.created_at, tz)}`;
}

interface RestorePlan {
  backup: api.Backup;
  to: string;
}

function RestoreDialog(props: { plan: RestorePlan; onClose: () => void }) {
  const tz = useTimeZone();
  const info = useAppInfo();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { backup, to } = props.plan;
  const counts = parseObject(backup.row_counts);
  const restore = async () => {
    setBusy(true);
    setError(null);
    try {
      const report = await api.backupRestore(backup.id, to);
      const rows = Object.values(report.row_counts).reduce((a, b) => a + b, 0);
      toast({
        kind: "success",
        text: `Restored ${describe(backup, tz)} into a new database (${fmtInt(rows)} rows).`,
        detail: report.to ?? to,
        action: { label: "Show in folder", run: () => void attempt(() => api.showInFolder(report.to ?? to)) },
      });
      props.onClose();
    } catch (e) {
      setError(api.errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="Restore into a new file"
      onClose={() => !busy && props.onClose()}
      actions={
        <>
          <Button onClick={props.onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" busy={busy} onClick={restore} data-testid="restore-confirm">
            Restore
          </Button>
        </>
      }
    >
      <p>
        chatkeep will read {describe(backup, tz)} (<span class="mono">{backup.file_name}</span>), check it against its
        manifest, and write its contents into a <strong>new database file</strong> at:
      </p>
      <p class="mono path">{to}</p>
      <p>
        The live database{info ? <> (<span class="mono">{info.database}</span>)</> : null} is <strong>not touched</strong>. If
        a file already exists at that path, nothing is overwritten and the restore stops with a message. People erased
        since the backup was made are erased again in the new file.
      </p>
      {counts && (
        <p class="muted small">
          The backup holds{" "}
          {Object.entries(counts)
            .filter(([table]) => !table.startsWith("_"))
            .map(([table, n]) => `${fmtInt(Number(n))} ${table}`)
            .join(", ")}
          .
        </p>
      )}
      <ErrorNote message={error} />
    </Dialog>
  );
}

function PrunePreview(props: { onClose: () => void }) {
  const tz = useTimeZone();
  const preview = useLoad(api.backupPrunePreview);
  return (
    <Card title="Prune preview" actions={<Button class="btn-small" onClick={props.onClose}>Close</Button>}>
      <p class="muted">
        What pruning would delete under the kept generations (backup.keep_daily / keep_weekly / keep_monthly). Nothing is
        deleted here; the snapshot job prunes after each new snapshot.
      </p>
      <ErrorNote message={preview.error} />
      {!preview.data && !preview.error && <Loading />}
      {preview.data && preview.data.length === 0 && <Empty title="Nothing to prune">Every backup is within the kept generations.</Empty>}
      {preview.data && preview.data.length > 0 && (
        <table class="table" data-testid="prune-preview">
          <thead>
            <tr>
              <th>#</th>
              <th>Kind</th>
              <th>File</th>
              <th>Made</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {preview.data.map((p) => (
              <tr key={p.id}>
                <td>{p.id}</td>
                <td>{p.kind}</td>
                <td class="mono small">{p.file_name}</td>
                <td>{fmtTime(p.created_at, tz)}</td>
                <td>{p.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

export function BackupsPage() {
  const tz = useTimeZone();
  const list = useLoad(api.backupsList);
  const months = recentMonths(today(tz), 24);
  const [archiveMonth, setArchiveMonth] = useState(months[0] ?? "");
  const [busy, setBusy] = useState<string | null>(null);
  const [restore, setRestore] = useState<RestorePlan | null>(null);
  const [showPrune, setShowPrune] = useState(false);

  const act = async (key: string, run: () => Promise<void>) => {
    setBusy(key);
    try {
      await run();
    } catch (e) {
      toast({ kind: "error", text: api.errorMessage(e) });
    } finally {
      setBusy(null);
    }
  };

  const snapshot = () =>
    act("snapshot", async () => {
      const b = await api.backupSnapshot();
      toast({ kind: "success", text: `Snapshot #${b.id} made and ${b.status} (${fmtBytes(b.size_bytes)}).` });
      list.reload();
    });
  const archive = () =>
    act("archive", async () => {
      const b = await api.backupArchive(archiveMonth);
      toast({ kind: "success", text: `Archive #${b.id} of ${archiveMonth} made and ${b.status} (${fmtBytes(b.size_bytes)}).` });
      list.reload();
    });
  const verify = (b: api.Backup) =>
    act(`verify-${b.id}`, async () => {
      const r = await api.backupVerify(b.id);
      if (r.ok) toast({ kind: "success", text: `Backup #${b.id} verified: it matches its manifest.` });
      else toast({ kind: "error", text: `Backup #${b.id} failed verification: ${r.problems.join("; ")}` });
      list.reload();
    });
  const startRestore = (b: api.Backup) =>
    act(`restore-${b.id}`, async () => {
      const to = await api.pickSavePath(`chatkeep-restored-${b.id}.db`);
      if (to !== null) setRestore({ backup: b, to });
    });
  const saveCopy = (b: api.Backup) =>
    act(`copy-${b.id}`, async () => {
      const to = await api.pickSavePath(b.file_name);
      if (to === null) return;
      const path = await api.backupSaveCopy(b.id, to);
      toast({
        kind: "success",
        text: `Copy of backup #${b.id} saved.`,
        detail: path,
        action: { label: "Show in folder", run: () => void attempt(() => api.showInFolder(path)) },
      });
    });

  const backups = list.data?.backups ?? [];

  return (
    <Page
      name="backups"
      title="Backups"
      actions={
        <>
          <Button variant="primary" data-testid="backup-now" busy={busy === "snapshot"} onClick={snapshot}>
            Back up now
          </Button>
          <span class="inline-form">
            <select data-testid="archive-month" value={archiveMonth} onChange={(e) => setArchiveMonth(e.currentTarget.value)} aria-label="Month to archive">
              {months.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
            <Button data-testid="archive-now" busy={busy === "archive"} onClick={archive}>
              Archive month
            </Button>
          </span>
          <Button data-testid="prune-preview-open" onClick={() => setShowPrune(!showPrune)}>
            Prune preview
          </Button>
        </>
      }
    >
      <p class="muted">
        <strong>Back up now</strong> makes a snapshot of the whole database; <strong>Archive month</strong> writes one
        month as JSONL, which lets retention purge that month. Every backup is read back and checked before it counts.
      </p>
      {showPrune && <PrunePreview onClose={() => setShowPrune(false)} />}
      <Card title={list.data ? <>Catalog <span class="muted small mono">{list.data.directory}</span></> : "Catalog"}>
        <ErrorNote message={list.error} />
        {!list.data && !list.error && <Loading />}
        {list.data && backups.length === 0 && (
          <Empty title="No backups yet">Press “Back up now” to make the first snapshot. The daily snapshot job will add one each night.</Empty>
        )}
        {backups.length > 0 && (
          <table class="table" data-testid="backup-table">
            <thead>
              <tr>
                <th>#</th>
                <th>Kind</th>
                <th>Range / month</th>
                <th class="num">Size</th>
                <th>Status</th>
                <th>Verified</th>
                <th>Made</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {backups.map((b) => (
                <tr key={b.id} data-testid="backup-row" data-id={b.id} data-status={b.status}>
                  <td>{b.id}</td>
                  <td>
                    {b.kind}
                    {b.encrypted && <Badge tone="muted">encrypted</Badge>}
                    {b.manual && <span class="muted small"> manual</span>}
                  </td>
                  <td>{rangeText(b, tz)}</td>
                  <td class="num">{fmtBytes(b.size_bytes)}</td>
                  <td>
                    <StatusBadge status={b.status} />
                    {b.file_present === false && <Badge tone="bad">file missing</Badge>}
                    {b.error && <div class="small error-text">{b.error}</div>}
                  </td>
                  <td>{fmtTime(b.verified_at, tz)}</td>
                  <td>{fmtTime(b.created_at, tz)}</td>
                  <td class="row-actions">
                    <Button class="btn-small" data-testid="backup-verify" busy={busy === `verify-${b.id}`} onClick={() => verify(b)}>
                      Verify
                    </Button>
                    <Button class="btn-small" data-testid="backup-restore" busy={busy === `restore-${b.id}`} disabled={b.file_present === false} onClick={() => startRestore(b)}>
                      Restore…
                    </Button>
                    <Button class="btn-small" data-testid="backup-save-copy" busy={busy === `copy-${b.id}`} disabled={b.file_present === false} onClick={() => saveCopy(b)}>
                      Save a copy…
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {list.data && list.data.unknown_files.length > 0 && (
          <p class="warn-text">
            Files in the backup folder that the catalog does not know: <span class="mono">{list.data.unknown_files.join(", ")}</span>
          </p>
        )}
      </Card>
      {restore && <RestoreDialog plan={restore} onClose={() => setRestore(null)} />}
    </Page>
  );
}
