// The order page (/o/<order id>#<order token>): the tickets again, from the
// order token in the URL's fragment (browsers never send a fragment, so the
// token is in no server's log).

import { call } from "./api.js";
import { t } from "./i18n.js";
import { renderOrder } from "./tickets.js";

const main = document.getElementById("fan");
const token = decodeURIComponent(location.hash.slice(1));

async function load() {
  const orderId = main.dataset.orderId;
  try {
    if (!token) throw new Error(t("error.unauthorized"));
    const { data } = await call("GET", `/api/orders/${encodeURIComponent(orderId)}`, { token });
    renderOrder(document.getElementById("order"), data);
  } catch (err) {
    const box = document.getElementById("error");
    box.textContent = err.code ? t(`error.${err.code}`) : String(err.message || err);
    box.hidden = false;
  } finally {
    main.setAttribute("aria-busy", "false");
  }
}

load();
