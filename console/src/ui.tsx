import type { ComponentChildren, JSX } from "preact";
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { messageOf } from "./api.ts";

/** A status line: polite for progress and success, assertive for errors. */
export function Notice(
  { kind = "info", children }: { kind?: "info" | "success" | "error"; children: ComponentChildren },
) {
  return (
    <p class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </p>
  );
}

export interface Loaded<T> {
  data?: T;
  error?: unknown;
  loading: boolean;
  reload: () => Promise<void>;
}

/**
 * Runs `load` now (and whenever `deps` change); `reload` runs it again. A request that
 * finishes after a newer one started is dropped, so a slow answer never overwrites a fresh one.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({
    loading: true,
  });
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setState((previous) => ({ ...previous, loading: true }));
    try {
      const data = await load();
      if (mine === generation.current) setState({ data, loading: false });
    } catch (error) {
      if (mine === generation.current) {
        setState((previous) => ({ data: previous.data, error, loading: false }));
      }
    }
  }, deps);
  useEffect(() => {
    reload();
    return () => {
      generation.current++;
    };
  }, [reload]);
  return { ...state, reload };
}

/** An error from a load, said plainly; nothing while there is none. */
export function LoadError({ error, what }: { error: unknown; what: string }) {
  if (!error) return null;
  return <Notice kind="error">Could not load {what}: {messageOf(error)}</Notice>;
}

/** Repeats `tick` every `ms` while the page is visible. */
export function useInterval(tick: () => void, ms: number): void {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    const id = setInterval(() => {
      if (document.visibilityState === "visible") saved.current();
    }, ms);
    return () => clearInterval(id);
  }, [ms]);
}

/** Wraps a form action: disables while it runs and reports its error. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const run = useCallback(async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

/**
 * A labelled control. The label holds only its text (so the accessible name is exactly
 * `label`); the hint is the control's description.
 */
/**
 * "Newer" and "Older" over a cursor-paged list: `cursors` are the pages walked back so far
 * (empty on the newest page), `next` the cursor the current page offers for the one after it.
 */
export function Pager(
  { cursors, next, onChange, showPage }: {
    cursors: string[];
    next: string | null | undefined;
    onChange: (cursors: string[]) => void;
    showPage?: boolean;
  },
) {
  return (
    <div class="row">
      <button
        type="button"
        disabled={cursors.length === 0}
        onClick={() => onChange(cursors.slice(0, -1))}
      >
        Newer
      </button>
      <button type="button" disabled={!next} onClick={() => next && onChange([...cursors, next])}>
        Older
      </button>
      {showPage ? <span class="muted">Page {cursors.length + 1}</span> : null}
    </div>
  );
}

/** A labelled input whose value is a string: the common case of `Field`. */
export function TextField(
  { label, hint, value, onValue, ...input }:
    & { label: string; hint?: string; value: string; onValue: (value: string) => void }
    & Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onInput">,
) {
  return (
    <Field label={label} hint={hint}>
      {(props) => (
        <input
          {...input}
          {...props}
          value={value}
          onInput={(event) => onValue(event.currentTarget.value)}
        />
      )}
    </Field>
  );
}

export function Field(
  { label, hint, children }: {
    label: string;
    hint?: string;
    children: (props: { id: string; "aria-describedby"?: string }) => ComponentChildren;
  },
) {
  const id = useId();
  const hintId = `${id}-hint`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children({ id, ...(hint ? { "aria-describedby": hintId } : {}) })}
      {hint ? <span class="field-hint" id={hintId}>{hint}</span> : null}
    </div>
  );
}
