// Dashboard-wide state: the app info, the refresh signal and toasts.

import { useEffect, useState, useCallback, useRef } from "preact/hooks";
import { errorMessage, type AppInfo } from "./api";

// ---------------------------------------------------------------- refresh

type Listener = () => void;
const refreshListeners = new Set<Listener>();

/** Asks every page on screen to load its data again (a job ran, a backup finished ...). */
export function refreshAll(): void {
  for (const listener of refreshListeners) listener();
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads `fetch` now, again when `deps` change, and again whenever `refreshAll` is called.
 * Keeps the last data on screen while it reloads, so nothing flickers.
 */
export function useLoad<T>(fetch: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const fetchRef = useRef(fetch);
  fetchRef.current = fetch;

  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    fetchRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (mine !== generation.current) return;
        setError(errorMessage(e));
        setLoading(false);
      },
    );
  }, []);

  useEffect(reload, deps);
  useEffect(() => {
    refreshListeners.add(reload);
    return () => {
      refreshListeners.delete(reload);
      generation.current += 1;
    };
  }, [reload]);

  return { data, error, loading, reload };
}

// ---------------------------------------------------------------- app info

let currentInfo: AppInfo | null = null;
const infoListeners = new Set<(info: AppInfo | null) => void>();

export function setAppInfo(info: AppInfo | null): void {
  currentInfo = info;
  for (const listener of infoListeners) listener(info);
}

/** The app info (version, database, time zone); null until the first answer. */
export function useAppInfo(): AppInfo | null {
  const [info, setInfo] = useState(currentInfo);
  useEffect(() => {
    infoListeners.add(setInfo);
    setInfo(currentInfo);
    return () => void infoListeners.delete(setInfo);
  }, []);
  return info;
}

/** The configured time zone, or undefined (the system's) before app info arrives. */
export function useTimeZone(): string | undefined {
  return useAppInfo()?.timezone;
}

// ---------------------------------------------------------------- toasts

export interface ToastAction {
  label: string;
  run: () => void;
}

export interface Toast {
  id: number;
  kind: "info" | "success" | "error";
  text: string;
  detail?: string;
  action?: ToastAction;
  testid?: string;
}

let toasts: Toast[] = [];
let nextToast = 1;
const toastListeners = new Set<(list: Toast[]) => void>();

function publish(): void {
  for (const listener of toastListeners) listener(toasts);
}

/** Shows a toast; errors and toasts with an action stay until dismissed, the rest for 6 s. */
export function toast(t: Omit<Toast, "id">): number {
  const id = nextToast++;
  toasts = [...toasts.slice(-4), { ...t, id }];
  publish();
  if (t.kind !== "error" && !t.action) setTimeout(() => dismissToast(id), 6000);
  return id;
}

export function dismissToast(id: number): void {
  toasts = toasts.filter((t) => t.id !== id);
  publish();
}

export function useToasts(): Toast[] {
  const [list, setList] = useState(toasts);
  useEffect(() => {
    toastListeners.add(setList);
    return () => void toastListeners.delete(setList);
  }, []);
  return list;
}

/** Runs an action, shows its error as a toast, and returns whether it succeeded. */
export async function attempt<T>(run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (e) {
    toast({ kind: "error", text: errorMessage(e) });
    return undefined;
  }
}
