// Who signed in: the venue, the role and what it may do (GET /api/admin/me).
// The page shows only what the role may do; the API refuses the rest anyway
// (403), so this is for clarity, not for safety.

import { call } from "./api.js";

let me = null;

/** Ask the API who the key is (`key` given: before it is this tab's key). */
export async function whoAmI(key) {
  me = await call("GET", "/api/admin/me", key ? { key } : {});
  return me;
}

export function current() {
  return me;
}

export function forget() {
  me = null;
}

/** Whether the signed-in role may take `action` (admin/roles.py's names). */
export function can(action) {
  return Boolean(me && me.actions.includes(action));
}
