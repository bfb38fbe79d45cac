import {
  type Body,
  clip,
  integerAtLeast,
  invalid,
  requireField,
  requireModel,
  requireObject,
  validateSampling,
  validateStreaming,
  validateToolNames,
} from "../../common/body-fields.ts";

const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

export interface ChatRequest {
  body: Body;
  model: string;
  stream: boolean;
  includeUsage: boolean;
  n: number;
}

/** Validates a chat completion request before any upstream call. */
export function validateChatRequest(raw: unknown): ChatRequest {
  const body = requireObject(raw);
  const model = requireModel(body);
  const messages = requireField(body, "messages");
  if (!Array.isArray(messages)) {
    throw invalid(
      "messages",
      "Invalid type for 'messages': expected an array of message objects.",
      "invalid_type",
    );
  }
  if (messages.length === 0) {
    throw invalid(
      "messages",
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      "empty_array",
    );
  }
  messages.forEach((message, index) => {
    const param = `messages[${index}]`;
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      throw invalid(param, `Invalid type for '${param}': expected an object.`, "invalid_type");
    }
    const role = (message as Body).role;
    if (typeof role !== "string" || !ROLES.has(role)) {
      throw invalid(
        `${param}.role`,
        `Invalid value: '${
          clip(role)
        }'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.`,
      );
    }
    const content = (message as Body).content;
    if (
      content !== undefined && content !== null && typeof content !== "string" &&
      !Array.isArray(content)
    ) {
      throw invalid(
        `${param}.content`,
        `Invalid type for '${param}.content': expected a string or an array of content parts.`,
        "invalid_type",
      );
    }
    if ((content === undefined || content === null) && role !== "assistant") {
      throw invalid(
        `${param}.content`,
        `Missing required parameter: '${param}.content'.`,
        "missing_required_parameter",
      );
    }
  });
  validateSampling(body);
  integerAtLeast(body, "max_completion_tokens", 1);
  if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools)) {
    throw invalid("tools", "Invalid type for 'tools': expected an array.", "invalid_type");
  }
  validateToolNames(body.tools, "function.name");
  const { stream, includeUsage } = validateStreaming(body);
  return { body, model, stream, includeUsage, n: typeof body.n === "number" ? body.n : 1 };
}
