import { useState } from "preact/hooks";
import { api, ApiFailure, dollars, get, post, when } from "../api.ts";
import { Field, LoadError, Notice, TextField, useAction, useInterval, useLoad } from "../ui.tsx";
import { ExternalUpstreamForm, ReplaceKey } from "./external-upstreams.tsx";
import { HealthWord, StatusWord } from "./status.tsx";

const REFRESH_MS = 3000;

interface Gpu {
  id: string;
  name?: string;
  price_per_hour_usd: number;
}

/** The allowed GPUs with prices, or undefined on a gateway that does not list them. */
async function loadGpus(): Promise<Gpu[] | undefined> {
  try {
    return (await get<{ data: Gpu[] }>("/api/deployments/gpus")).data;
  } catch (error) {
    if (error instanceof ApiFailure && error.missingRoute) return undefined;
    throw error;
  }
}

export default function DeploymentsPage() {
  const list = useLoad(() => get("/api/deployments").then((body) => body.data as any[]));
  useInterval(() => list.reload(), REFRESH_MS);
  const [open, setOpen] = useState<"deploy" | "external" | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const finished = (message: string) => {
    setOpen(undefined);
    setDone(message);
    list.reload();
  };
  return (
    <>
      <div class="row">
        <button
          type="button"
          class="primary"
          aria-expanded={open === "deploy"}
          onClick={() => setOpen(open === "deploy" ? undefined : "deploy")}
        >
          Deploy a model
        </button>
        <button
          type="button"
          aria-expanded={open === "external"}
          onClick={() => setOpen(open === "external" ? undefined : "external")}
        >
          Register an external upstream
        </button>
      </div>
      {done ? <Notice kind="success">{done}</Notice> : null}
      {open === "deploy" ? <DeployForm onDeployed={finished} /> : null}
      {open === "external" ? <ExternalUpstreamForm onRegistered={finished} /> : null}
      <LoadError error={list.error} what="deployments" />
      <p class="muted">This list refreshes every {REFRESH_MS / 1000} seconds.</p>
      {list.data?.length === 0 ? <p class="muted">No deployments yet.</p> : null}
      {list.data?.length
        ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Model</th>
                <th scope="col">Where</th>
                <th scope="col">Status</th>
                <th scope="col">Health</th>
                <th scope="col" class="number">Spend</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((deployment) => (
                <DeploymentRow
                  key={deployment.id}
                  deployment={deployment}
                  onChanged={() => list.reload()}
                />
              ))}
            </tbody>
          </table>
        )
        : null}
    </>
  );
}

function DeployForm({ onDeployed }: { onDeployed: (message: string) => void }) {
  const gpus = useLoad(loadGpus);
  const [model, setModel] = useState("");
  const [name, setName] = useState("");
  const [gpu, setGpu] = useState("");
  const { busy, error, run } = useAction();
  const submit = (event: Event) => {
    event.preventDefault();
    run(async () => {
      const body: Record<string, unknown> = { model };
      if (name) body.name = name;
      if (gpu) body.gpu_type_id = gpu;
      const created = await post("/api/deployments", body);
      onDeployed(`Deploying "${created.name}": the pod is ${created.status}.`);
    });
  };
  return (
    <form class="card stack" onSubmit={submit} aria-label="Deploy a model">
      <TextField
        label="Model"
        hint="An Ollama model, e.g. mistral:7b or llama3.2:3b."
        required
        maxLength={200}
        value={model}
        onValue={setModel}
      />
      <TextField
        label="Name"
        hint="What clients send as `model` (optional; derived from the model)."
        maxLength={100}
        value={name}
        onValue={setName}
      />
      {gpus.data
        ? (
          <Field label="GPU">
            {(props) => (
              <select
                {...props}
                value={gpu}
                onChange={(event) => setGpu(event.currentTarget.value)}
              >
                <option value="">Default GPU</option>
                {gpus.data!.map((option) => (
                  <option key={option.id} value={option.id}>
                    {option.name ?? option.id} — {dollars(option.price_per_hour_usd)} per hour
                  </option>
                ))}
              </select>
            )}
          </Field>
        )
        : gpus.loading
        ? <p class="muted">Loading GPUs…</p>
        : (
          <p class="muted">
            {gpus.error
              ? "The GPU list could not be loaded; the gateway's default GPU will be used."
              : "This gateway does not list GPUs; its default GPU will be used."}
          </p>
        )}
      <p class="muted">
        Pods are billed per started minute while they exist, from your prepaid credit.
      </p>
      {error ? <Notice kind="error">{error}</Notice> : null}
      <p>
        <button type="submit" class="primary" disabled={busy}>Deploy</button>
      </p>
    </form>
  );
}

function DeploymentRow({ deployment, onChanged }: { deployment: any; onChanged: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [replacing, setReplacing] = useState(false);
  const { busy, error, run } = useAction();
  const id = encodeURIComponent(deployment.id);
  const act = (action: () => Promise<unknown>) =>
    run(async () => {
      await action();
      setConfirming(false);
      onChanged();
    });
  const pod = deployment.provider === "runpod";
  const status: string = deployment.status;
  const canStop = pod && ["pending", "provisioning", "pulling", "running"].includes(status);
  const canStart = pod && ["stopped", "failed"].includes(status);
  return (
    <tr>
      <th scope="row">{deployment.name}</th>
      <td>{deployment.model}</td>
      <td>
        {pod
          ? (deployment.gpu_type_id ?? "RunPod pod")
          : <span class="mono">{deployment.base_url}</span>}
      </td>
      <td>
        <StatusWord status={status} />
        {deployment.failure_reason ? <div class="muted">{deployment.failure_reason}</div> : null}
      </td>
      <td>
        {pod ? <HealthWord healthy={deployment.healthy} /> : <span class="muted">external</span>}
      </td>
      <td class="number">
        {deployment.spend_usd === undefined ? "—" : dollars(deployment.spend_usd)}
      </td>
      <td class="actions">
        {canStart
          ? (
            <button
              type="button"
              disabled={busy}
              onClick={() => act(() => post(`/api/deployments/${id}/start`))}
            >
              Start
            </button>
          )
          : null}
        {canStop
          ? (
            <button
              type="button"
              disabled={busy}
              onClick={() => act(() => post(`/api/deployments/${id}/stop`))}
            >
              Stop
            </button>
          )
          : null}
        {!pod
          ? (
            <button
              type="button"
              aria-expanded={replacing}
              onClick={() => setReplacing(!replacing)}
            >
              Replace key
            </button>
          )
          : null}
        {status !== "terminated"
          ? (
            <button type="button" class="danger" onClick={() => setConfirming(!confirming)}>
              Delete
            </button>
          )
          : null}
        {confirming
          ? (
            <div class="panel" role="group" aria-label={`Delete ${deployment.name}`}>
              <p>
                Delete "{deployment.name}"?{" "}
                {pod
                  ? "The pod is terminated and its disk is lost."
                  : "Requests to it stop at once."}
              </p>
              <div class="row">
                <button
                  type="button"
                  class="danger"
                  disabled={busy}
                  onClick={() => act(() => api("DELETE", `/api/deployments/${id}`))}
                >
                  Confirm
                </button>
                <button type="button" onClick={() => setConfirming(false)}>Cancel</button>
              </div>
            </div>
          )
          : null}
        {replacing
          ? (
            <ReplaceKey
              deploymentId={deployment.id}
              onReplaced={() => {
                setReplacing(false);
                onChanged();
              }}
            />
          )
          : null}
        {error ? <Notice kind="error">{error}</Notice> : null}
        <div class="muted small">updated {when(deployment.updated_at)}</div>
      </td>
    </tr>
  );
}
