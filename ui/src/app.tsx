import { useEffect, useState } from "preact/hooks";
import type { FunctionComponent } from "preact";
import * as api from "./api";
import { Toasts } from "./components/toasts";
import { AuditPage } from "./pages/audit";
import { BackupsPage } from "./pages/backups";
import { ExportPage } from "./pages/export";
import { GdprPage } from "./pages/gdpr";
import { JobsPage } from "./pages/jobs";
import { OverviewPage } from "./pages/overview";
import { RetentionPage } from "./pages/retention";
import { SettingsPage } from "./pages/settings";
import { refreshAll, setAppInfo, toast, useAppInfo } from "./state";

interface Route {
  name: string;
  label: string;
  page: FunctionComponent;
}

const ROUTES: Route[] = [
  { name: "overview", label: "Overview", page: OverviewPage },
  { name: "export", label: "Export", page: ExportPage },
  { name: "backups", label: "Backups", page: BackupsPage },
  { name: "retention", label: "Retention", page: RetentionPage },
  { name: "gdpr", label: "GDPR requests", page: GdprPage },
  { name: "jobs", label: "Jobs", page: JobsPage },
  { name: "audit", label: "Audit log", page: AuditPage },
  { name: "settings", label: "Settings", page: SettingsPage },
];

function routeFromHash(): Route {
  const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return ROUTES.find((r) => r.name === name) ?? (ROUTES[0] as Route);
}

function useRoute(): Route {
  const [route, setRoute] = useState(routeFromHash);
  useEffect(() => {
    const onHash = () => setRoute(routeFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return route;
}

/** Backend events: toasts for notifications, and a refresh of whatever is on screen. */
function useBackendEvents(): void {
  useEffect(() => {
    const subscriptions = [
      api.onNotification((n) => {
        const bad = /fail|miss|overdue|error|corrupt/i.test(n.event);
        toast({ kind: bad ? "error" : "info", text: n.text });
        refreshAll();
      }),
      api.onJobsChanged(() => refreshAll()),
    ];
    return () => {
      for (const s of subscriptions) void s.then((unlisten) => unlisten()).catch(() => undefined);
    };
  }, []);
}

export function App() {
  const route = useRoute();
  const info = useAppInfo();
  const [infoError, setInfoError] = useState<string | null>(null);
  useBackendEvents();

  useEffect(() => {
    api.appInfo().then(
      (i) => setAppInfo(i),
      (e: unknown) => setInfoError(api.errorMessage(e)),
    );
  }, []);

  const Page = route.page;
  return (
    <div class="shell">
      <nav class="nav" aria-label="Pages">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true" />
          chatkeep
        </div>
        {ROUTES.map((r) => (
          <a key={r.name} href={`#/${r.name}`} data-testid={`nav-${r.name}`} class={r === route ? "active" : ""} aria-current={r === route ? "page" : undefined}>
            {r.label}
          </a>
        ))}
        <div class="nav-foot">
          {info ? (
            <>
              <div>
                {info.engine} · {info.timezone}
              </div>
              <div class="muted">v{info.version}</div>
            </>
          ) : (
            infoError && <div class="error-text">{infoError}</div>
          )}
        </div>
      </nav>
      <main class="main">
        <Page key={route.name} />
      </main>
      <Toasts />
    </div>
  );
}
