// The public API as the page calls it: JSON in, JSON out, errors as ApiError
// carrying the contract's error code (API.md "Errors").

export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.retryAfter = retryAfter;
  }
}

// Server clock minus ours (ms), from the Date header: hold and session
// countdowns follow the server's clock, which decides when a hold expires.
export let skewMs = 0;

function learnSkew(response) {
  const date = Date.parse(response.headers.get("date") || "");
  if (!Number.isNaN(date)) {
    // Date has one-second resolution: keep our clock unless it is clearly off.
    const skew = date + 500 - Date.now();
    skewMs = Math.abs(skew) > 1500 ? skew : 0;
  }
}

export function serverNow() {
  return Date.now() + skewMs;
}

/**
 * `method path` with an optional bearer token, JSON body and extra headers.
 * Resolves to {status, data}; rejects with ApiError (code "network" when the
 * server could not be reached).
 */
export async function call(method, path, { token, body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", String(err));
  }
  learnSkew(response);
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    const retry = Number(response.headers.get("retry-after")) || null;
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message,
      error.details,
      retry,
    );
  }
  return { status: response.status, data };
}

/** A random UUID, also where crypto.randomUUID is missing (plain-http origins). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
