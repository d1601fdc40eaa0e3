import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { Button, Card, Dialog, ErrorNote, Loading, Page } from "../components/ui";
import { attempt, toast, useLoad } from "../state";

const SECTION_TITLES: Record<string, string> = {
  general: "General",
  retention: "Retention",
  backup: "Backups",
  export: "Exports",
  scheduler: "Scheduler",
  notify: "Notifications",
  gdpr: "GDPR",
};

/** Values the core shows for settings that have none. */
const UNSET = new Set(["(not set)", "(none)"]);

function sectionOf(key: string): string {
  const dot = key.indexOf(".");
  return dot < 0 ? "general" : key.slice(0, dot);
}

function shownValue(value: string): string {
  return UNSET.has(value) ? "" : value;
}

function sourceText(source: api.SettingSource): string {
  switch (source.kind) {
    case "default":
      return "default";
    case "system":
      return "from the system";
    case "file":
      return "chatkeep.toml";
    case "env":
      return `env ${source.name}`;
    case "flag":
      return `flag ${source.name}`;
  }
}

/** The setting a core message names, so the form can mark it. */
function keyNamedIn(message: string, settings: api.Setting[]): string | null {
  const named = settings
    .filter((s) => message.includes(s.key) || (s.env !== null && message.includes(s.env)))
    .sort((a, b) => b.key.length - a.key.length);
  return named[0]?.key ?? null;
}

/** Opt-in: the app starts in the tray when the user logs in, so the schedule keeps running. */
function StartAtLogin() {
  const enabled = useLoad(api.startAtLogin);
  const [busy, setBusy] = useState(false);
  const toggle = async (on: boolean) => {
    setBusy(true);
    const done = await attempt(async () => {
      await api.setStartAtLogin(on);
      return true;
    });
    if (done) toast({ kind: "success", text: on ? "chatkeep will start in the tray when you log in." : "chatkeep will no longer start at login." });
    enabled.reload();
    setBusy(false);
  };
  return (
    <Card title="Desktop">
      <ErrorNote message={enabled.error} />
      <label class="check">
        <input
          type="checkbox"
          data-testid="settings-start-at-login"
          checked={enabled.data === true}
          disabled={busy || enabled.data === undefined}
          onChange={(e) => void toggle(e.currentTarget.checked)}
        />{" "}
        Start chatkeep in the tray when I log in, so scheduled backups and cleanups run without opening it
      </label>
    </Card>
  );
}

export function SettingsPage() {
  const loaded = useLoad(api.settingsGet);
  const [current, setCurrent] = useState<api.Settings | undefined>(undefined);
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [toConfirm, setToConfirm] = useState<api.Weakening[] | null>(null);

  useEffect(() => {
    if (loaded.data && Object.keys(edits).length === 0) setCurrent(loaded.data);
  }, [loaded.data]);

  const settings = current?.settings ?? [];
  const changed = Object.entries(edits).filter(([key, value]) => {
    const s = settings.find((x) => x.key === key);
    return s !== undefined && shownValue(s.value) !== value;
  });
  const errorKey = error ? keyNamedIn(error, settings) : null;

  const save = async (e: Event | null, confirmed = false) => {
    e?.preventDefault();
    setSaving(true);
    setError(null);
    try {
      const outcome = await api.settingsSave(Object.fromEntries(changed), confirmed);
      if ("confirm" in outcome) {
        // Nothing was written: these changes delete sooner or protect less; ask first.
        setToConfirm(outcome.confirm);
        return;
      }
      const saved = outcome.saved;
      setToConfirm(null);
      setCurrent(saved);
      setEdits({});
      toast({
        kind: "success",
        text: `Saved ${changed.length} setting${changed.length === 1 ? "" : "s"} to ${saved.file ?? "chatkeep.toml"}.`,
        detail: "Schedules and the database take effect at the next start.",
      });
    } catch (err) {
      setError(api.errorMessage(err));
    } finally {
      setSaving(false);
    }
  };

  const sections = new Map<string, api.Setting[]>();
  for (const s of settings) {
    const name = sectionOf(s.key);
    sections.set(name, [...(sections.get(name) ?? []), s]);
  }

  return (
    <Page name="settings" title="Settings">
      <p class="muted">
        {current?.file ? (
          <>
            Saved to <span class="mono">{current.file}</span>.
          </>
        ) : (
          <>No chatkeep.toml yet; saving creates one in the config folder.</>
        )}{" "}
        Environment variables override the file: a setting that comes from one keeps that value until the variable is removed.
      </p>
      <StartAtLogin />
      <ErrorNote message={loaded.error} />
      {!current && !loaded.error && <Loading />}
      {current && (
        <form onSubmit={save}>
          {[...sections.entries()].map(([name, entries]) => (
            <Card key={name} title={SECTION_TITLES[name] ?? name}>
              <table class="table settings">
                <tbody>
                  {entries.map((s) => {
                    const value = edits[s.key] ?? shownValue(s.value);
                    const dirty = edits[s.key] !== undefined && edits[s.key] !== shownValue(s.value);
                    return (
                      <tr key={s.key} class={errorKey === s.key ? "row-error" : dirty ? "row-dirty" : ""}>
                        <td class="setting-key">
                          <label for={`setting-${s.key}`} class="mono">
                            {s.key}
                          </label>
                          {s.env && <div class="muted small mono">{s.env}</div>}
                        </td>
                        <td class="setting-value">
                          <input
                            id={`setting-${s.key}`}
                            type="text"
                            spellcheck={false}
                            data-testid={`settings-input-${s.key}`}
                            value={value}
                            placeholder={UNSET.has(s.value) ? s.value.replace(/[()]/g, "") : ""}
                            aria-invalid={errorKey === s.key ? "true" : undefined}
                            onInput={(e) => setEdits({ ...edits, [s.key]: e.currentTarget.value })}
                          />
                          {errorKey === s.key && error && <div class="error-text small">{error}</div>}
                        </td>
                        <td class="setting-source">
                          <span class={`source source-${s.source.kind}`}>{sourceText(s.source)}</span>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </Card>
          ))}
          {toConfirm && (
            <Dialog
              title="These changes protect less"
              onClose={() => setToConfirm(null)}
              actions={
                <>
                  <Button onClick={() => setToConfirm(null)}>Keep the current settings</Button>
                  <Button variant="danger" data-testid="settings-confirm" busy={saving} onClick={() => void save(null, true)}>
                    Save anyway
                  </Button>
                </>
              }
            >
              <ul data-testid="settings-weakenings">
                {toConfirm.map((w) => (
                  <li key={w.key}>
                    <span class="mono">{w.key}</span>: {w.old} → {w.new}. {w.consequence.charAt(0).toUpperCase() + w.consequence.slice(1)}.
                  </li>
                ))}
              </ul>
              <p class="muted small">The change is recorded in the audit log with its old and new values.</p>
            </Dialog>
          )}
          <div class="save-bar">
            <ErrorNote message={error} testid="settings-error" />
            <div class="form-actions">
              <Button type="submit" variant="primary" data-testid="settings-save" busy={saving} disabled={changed.length === 0}>
                Save{changed.length > 0 ? ` ${changed.length} change${changed.length === 1 ? "" : "s"}` : ""}
              </Button>
              {changed.length > 0 && (
                <Button
                  onClick={() => {
                    setEdits({});
                    setError(null);
                  }}
                >
                  Discard
                </Button>
              )}
            </div>
          </div>
        </form>
      )}
    </Page>
  );
}
