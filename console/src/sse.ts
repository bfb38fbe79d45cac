/**
 * Reads an OpenAI-style event stream (`data: {...}` lines, `data: [DONE]` at the end) and hands
 * each JSON payload to `onEvent`. Lines may arrive split across chunks.
 */
export async function readEventStream(
  response: Response,
  onEvent: (payload: any) => void,
): Promise<void> {
  if (!response.body) throw new Error("The response has no body to stream.");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data: string[] = [];
  const dispatch = () => {
    if (data.length === 0) return false;
    const text = data.join("\n");
    data = [];
    if (text === "[DONE]") return true;
    try {
      onEvent(JSON.parse(text));
    } catch {
      // A keep-alive or a payload this page does not understand: skip it.
    }
    return false;
  };
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline: number;
    while ((newline = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer[newline] === "\r" ? 2 : 1));
      if (line === "") {
        if (dispatch()) {
          await reader.cancel();
          return;
        }
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).trimStart());
      }
      // Comments (": ping") and other fields are ignored.
    }
  }
  dispatch();
}
