// The public admin API as the venue's key sees it: JSON in, JSON out, and the
// API's error body ({"error": {code, message, details}}) as an ApiError.

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Field path -> message, for a 422 validation_error. */
  get fields() {
    const fields = this.details && this.details.fields;
    return fields && typeof fields === "object" ? fields : {};
  }
}

const KEY = "onsale.admin.key";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

async function send(method, path, { body, key = session.key, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (exc) {
    throw new ApiError(0, "network", String(exc));
  }
  if (response.ok) return response;
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    // Not the API's error body (a proxy's page, say): the status says enough.
  }
  throw new ApiError(response.status, error.code || "http_error", error.message || response.statusText, error.details);
}

export async function call(method, path, options = {}) {
  const response = await send(method, path, options);
  return response.status === 204 ? null : response.json();
}

/** Fetch `path` with the key and hand it to the browser as a downloaded file. */
export async function download(path, filename, accept) {
  const response = await send("GET", path, { accept });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Give the browser the time to start the download before freeing the blob.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
