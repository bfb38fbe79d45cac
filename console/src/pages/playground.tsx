import { useState } from "preact/hooks";
import { ChatPlayground } from "./chat.tsx";
import { MediaPlayground } from "./media.tsx";

const MODES = ["Chat", "Image", "Audio", "Video"] as const;
type Mode = typeof MODES[number];

/** One tool at a time, so each form's labels ("Model", "Prompt") are unique on the page. */
export default function PlaygroundPage() {
  const [mode, setMode] = useState<Mode>("Chat");
  return (
    <>
      <div class="row" role="group" aria-label="Playground tool">
        {MODES.map((option) => (
          <button
            key={option}
            type="button"
            aria-pressed={mode === option}
            onClick={() => setMode(option)}
          >
            {option}
          </button>
        ))}
      </div>
      {mode === "Chat"
        ? <ChatPlayground />
        : <MediaPlayground key={mode} kind={mode.toLowerCase() as "image" | "audio" | "video"} />}
    </>
  );
}
