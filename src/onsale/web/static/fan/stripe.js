// Stripe.js for a venue that takes Stripe: loaded from ONSALE_STRIPE_JS_URL
// (the page's CSP allows that origin) only when the event says so, with the
// card fields mounted from Stripe's own element. The card number is typed
// into Stripe's fields and goes to Stripe; onsale only ever sees the
// PaymentIntent's id.

let loading = null;

function loadScript(url) {
  if (window.Stripe) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => resolve();
      script.onerror = () => {
        loading = null;
        reject(new Error("stripe.js did not load"));
      };
      document.head.append(script);
    });
  }
  return loading;
}

export class StripeCard {
  /** Stripe's card element for `publishableKey`, mounted in `container`. */
  static async mount(url, publishableKey, container) {
    await loadScript(url);
    const stripe = window.Stripe(publishableKey);
    const card = stripe.elements().create("card");
    card.mount(container);
    return new StripeCard(stripe, card, publishableKey);
  }

  constructor(stripe, card, publishableKey) {
    this.stripe = stripe;
    this.card = card;
    this.publishableKey = publishableKey;
  }

  /** Confirm the PaymentIntent with the card typed into Stripe's fields.
   * Resolves to Stripe's answer ({paymentIntent} or {error}). */
  confirm(clientSecret, buyer) {
    return this.stripe.confirmCardPayment(clientSecret, {
      payment_method: { card: this.card, billing_details: { name: buyer.name, email: buyer.email } },
    });
  }
}
