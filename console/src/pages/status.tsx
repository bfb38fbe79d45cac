/** Status words exactly as the API gives them, lower-case, with a colour that is never the only cue. */
export function StatusWord({ status }: { status: string }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status}</span>;
}

export function HealthWord({ healthy }: { healthy?: boolean }) {
  if (healthy === undefined) return <span class="muted">not checked</span>;
  return (
    <span class={`status ${healthy ? "status-running" : "status-failed"}`}>
      {healthy ? "healthy" : "unhealthy"}
    </span>
  );
}
