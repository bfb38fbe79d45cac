import { useRef, useState } from "preact/hooks";
import { Field } from "../ui.tsx";

/** The full key, shown once, in a read-only field with a copy button. */
export function NewKey({ secret, note }: { secret: string; note: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied to the clipboard.");
    } catch {
      // No clipboard permission (plain HTTP, older browsers): select it for Ctrl+C instead.
      input.current?.select();
      setCopied("Selected: press Ctrl+C (or ⌘C) to copy.");
    }
  };
  return (
    <div class="card new-key">
      <Field label="Your new API key" hint={note}>
        {(props) => (
          <div class="row">
            <input
              {...props}
              ref={input}
              class="mono grow"
              readOnly
              value={secret}
              onFocus={(event) => event.currentTarget.select()}
            />
            <button type="button" onClick={copy}>Copy</button>
          </div>
        )}
      </Field>
      <p class="muted" role="status">{copied ?? ""}</p>
    </div>
  );
}
