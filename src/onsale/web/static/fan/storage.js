// What the page keeps for one event in localStorage, so that a reload (or a
// phone that dropped the tab) finds the fan's place, hold or order again:
// {queueToken, entryId, firstPosition, access: {token, expiresAt},
//  hold: {...}, order: {id, token}}. Card numbers are never stored.

export class EventStorage {
  constructor(eventId) {
    this.key = `onsale.fan.${eventId}`;
  }

  load() {
    try {
      return JSON.parse(localStorage.getItem(this.key) || "{}") || {};
    } catch {
      return {};
    }
  }

  get(name) {
    return this.load()[name];
  }

  /** Merge `changes` in; a value of undefined removes the field. */
  patch(changes) {
    const state = { ...this.load(), ...changes };
    for (const [k, v] of Object.entries(state)) if (v === undefined) delete state[k];
    try {
      localStorage.setItem(this.key, JSON.stringify(state));
    } catch {
      // Private mode or full storage: the page still works, a reload loses the place.
    }
    return state;
  }
}
