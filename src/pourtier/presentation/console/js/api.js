// The API, from the page: bearer token, one refresh on a 401, and errors made
// readable (`detail` is a string, or a list of {loc, msg} from validation).

import { accessToken, current, refresh } from "./session.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.body = body ?? {};
  }

  /** The legal gate's answer: business pages wait for these documents. */
  get pendingDocuments() {
    return this.status === 403 ? (this.body.pending_documents ?? null) : null;
  }
}

export function describe(status, body) {
  const detail = body?.detail;
  if (body?.pending_documents?.length) {
    const titles = body.pending_documents.map((doc) => `${doc.title} (version ${doc.version})`);
    return `${detail} Accept on the Legal page: ${titles.join(", ")}.`;
  }
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body").join(".");
        return where ? `${where}: ${item.msg}` : item.msg;
      })
      .join("; ");
  }
  if (status === 0) return "The service cannot be reached.";
  return `The service answered ${status}.`;
}

async function send(method, path, body, headers) {
  const init = { method, headers: { ...headers } };
  const token = accessToken();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, null);
  }
}

/** Call the API; resolves to the JSON answer (or the Response, `raw`). */
export async function api(method, path, { body, headers, raw = false } = {}) {
  let response = await send(method, path, body, headers);
  if (response.status === 401 && current()) {
    await refresh();
    response = await send(method, path, body, headers);
  }
  if (!response.ok) {
    let detail = null;
    try {
      detail = await response.json();
    } catch {
      detail = null;
    }
    throw new ApiError(response.status, detail);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body, headers) => api("POST", path, { body, headers });
export const patch = (path, body) => api("PATCH", path, { body });
export const del = (path) => api("DELETE", path);
