// Plans and the subscription: access in plain words, subscribe, upgrade,
// schedule a downgrade, cancel, resume; and the receipts, with their PDF.

import { api, del, get, post } from "../api.js";
import { button, feedback, h, listing, section, when } from "../ui.js";

const LIVE = "active,past_due,pending";
const RECEIPT_COLUMNS = ["Number", "Issued", "For", "Amount (USDC)", "PDF"];

function access(check) {
  if (!check.has_access) {
    return h("p", { "data-access": "none" }, "You have no subscription giving access now.");
  }
  const until = when(check.expires_at);
  const words = {
    active: `You have the ${check.plan} plan until ${until}.`,
    past_due: `Your ${check.plan} renewal could not be charged: access continues in the grace period until ${until}. Deposit to your escrow to renew.`,
  };
  return h(
    "p",
    { "data-access": check.plan },
    words[check.status] ?? `${check.plan}: ${check.status}, until ${until}.`,
  );
}

// One POST subscribes, upgrades or schedules a downgrade; a fresh
// Idempotency-Key a click: a repeat of that request gets the first answer,
// never a second charge.
function subscribe(plan) {
  return post("/api/subscriptions/", { plan }, { "Idempotency-Key": crypto.randomUUID() });
}

async function live() {
  const found = await Promise.all(
    LIVE.split(",").map((status) => get(`/api/subscriptions/?status=${status}`)),
  );
  return found.flat()[0] ?? null;
}

function subscriptionCard(sub, plans, rerender) {
  if (!sub) return null;
  const box = feedback();
  const other = plans.find((plan) => plan.name !== sub.plan);
  const notes = [];
  if (sub.cancel_at_period_end)
    notes.push(`Cancelled: it ends on ${when(sub.current_period_end)}.`);
  else if (sub.scheduled_plan)
    notes.push(`Changes to ${sub.scheduled_plan} on ${when(sub.current_period_end)}.`);
  else if (sub.auto_renew) notes.push(`Renews on ${when(sub.current_period_end)}.`);
  const controls = [];
  if (other && !sub.cancel_at_period_end && !sub.scheduled_plan) {
    const verb =
      sub.plan === "basic" ? `Upgrade to ${other.name}` : `Switch to ${other.name} at period end`;
    controls.push(
      button(
        verb,
        async () => {
          await subscribe(other.name);
          await rerender(
            sub.plan === "basic"
              ? `Upgraded to ${other.name}.`
              : `${other.name} is scheduled for the next period.`,
          );
        },
        box,
      ),
    );
  }
  if (sub.cancel_at_period_end || sub.scheduled_plan) {
    controls.push(
      button(
        "Resume",
        async () => {
          await post(`/api/subscriptions/${sub.id}/resume`);
          await rerender("Resumed: nothing changes at the period's end.");
        },
        box,
      ),
    );
  }
  if (!sub.cancel_at_period_end) {
    controls.push(
      button(
        "Cancel at period end",
        async () => {
          await del(`/api/subscriptions/${sub.id}`);
          await rerender("Cancelled: access continues until the period's end.");
        },
        box,
        { className: "danger" },
      ),
    );
  }
  return section(
    "Your subscription",
    h(
      "p",
      {},
      h("strong", {}, sub.plan),
      ` — ${sub.status}, period ${when(sub.current_period_start)} to ${when(sub.current_period_end)}.`,
    ),
    ...notes.map((note) => h("p", {}, note)),
    h("div", { className: "actions" }, ...controls),
    box,
  );
}

function planCards(plans, sub, rerender) {
  return section(
    "Plans",
    h(
      "div",
      { className: "split" },
      ...plans.map((plan) => {
        const box = feedback();
        return h(
          "article",
          { className: "plan" },
          h("h3", {}, plan.name),
          h("p", { className: "price" }, `${plan.price} USDC / ${plan.period_days} days`),
          h(
            "p",
            {},
            plan.max_active_strategies === null
              ? "Unlimited strategies"
              : `${plan.max_active_strategies} active strateg${plan.max_active_strategies === 1 ? "y" : "ies"}`,
          ),
          h("ul", {}, ...plan.features.map((feature) => h("li", {}, feature.replaceAll("_", " ")))),
          sub
            ? null
            : button(
                `Subscribe to ${plan.name}`,
                async () => {
                  const made = await subscribe(plan.name);
                  await rerender(
                    made.status === "active"
                      ? `Subscribed to ${plan.name}.`
                      : `Subscription ${made.status}: it activates when the charge is final.`,
                  );
                },
                box,
              ),
          box,
        );
      }),
    ),
  );
}

async function download(receipt, box) {
  const response = await api("GET", `/api/subscriptions/receipts/${receipt.id}.pdf`, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: `receipt-${receipt.number}.pdf` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  box.show(`Receipt ${receipt.number} downloaded.`, "ok");
}

async function receipts() {
  const box = feedback();
  const rows = await get("/api/subscriptions/receipts?limit=20");
  return listing(
    "Receipts",
    "Receipts",
    RECEIPT_COLUMNS,
    rows.map((receipt) => [
      receipt.number,
      when(receipt.issued_at),
      `${receipt.plan} ${receipt.kind}`,
      receipt.amount,
      button(`Download ${receipt.number}`, () => download(receipt, box), box, {
        className: "secondary",
      }),
    ]),
    box,
  );
}

export default async function render(body) {
  const box = feedback();
  const rerender = async (message) => {
    const [plans, check, sub] = await Promise.all([
      get("/api/subscriptions/plans"),
      get("/api/subscriptions/check"),
      live(),
    ]);
    body.replaceChildren(
      section("Access", access(check), box),
      subscriptionCard(sub, plans, rerender) ?? "",
      planCards(plans, sub, rerender),
      await receipts(),
    );
    if (message) box.show(message, "ok");
  };
  await rerender();
}
