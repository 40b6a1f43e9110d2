// The public HTTP API (/v1/...), called with the API key kept in this tab's sessionStorage.
// The key goes only in the Authorization header: never in a URL, never logged.

const KEY_ITEM = "copyloop.apiKey";

export function savedKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function saveKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** An error answer of the API: its status, stable code, message and the field at fault. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

function headers(extra = {}) {
  const key = savedKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : { ...extra };
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says it all
  }
  const error = body && body.error ? body.error : {};
  return new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || response.statusText || "the request failed",
    error.field,
  );
}

/** Call `path` with an optional JSON `body` (or FormData); the parsed answer, or an ApiError. */
export async function call(method, path, body, { accept = "application/json" } = {}) {
  const init = { method, headers: headers({ Accept: accept }) };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  if (accept === "application/json") return response.json();
  return response.text();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const patch = (path, body) => call("PATCH", path, body);

/**
 * POST a generation and read its server-sent events, calling `onEvent(name, data)` for each.
 * Resolves with the `done` event's stored generation; rejects with the `error` event's ApiError.
 */
export async function streamGeneration(body, onEvent) {
  const response = await fetch("/v1/generations", {
    method: "POST",
    headers: headers({ Accept: "text/event-stream", "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      if (!event) continue;
      if (event.name === "error") {
        const e = event.data.error || {};
        throw new ApiError(event.data.status || 500, e.code, e.message, e.field);
      }
      onEvent(event.name, event.data);
      if (event.name === "done") return event.data;
    }
  }
  throw new ApiError(502, "stream_ended", "the generation stream ended without a result", null);
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // keep-alive comment
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return null;
  return { name, data: JSON.parse(data.join("\n")) };
}
