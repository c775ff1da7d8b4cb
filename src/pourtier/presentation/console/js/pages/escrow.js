// The escrow: balance and allowance from the chain, initialize / deposit /
// withdraw (the service prepares, the wallet signs, the console submits and
// follows the transaction until final), the history, and on the local chain a
// faucet.

import { get, post } from "../api.js";
import { button, feedback, field, form, h, listing, section, short, when } from "../ui.js";
import * as wallets from "../wallets.js";

const FINAL = new Set(["confirmed", "failed", "expired"]);
const POLL_MS = 1000;
const POLL_LIMIT = 180; // seconds, at one poll a second

function walletOf(profile) {
  const name = sessionStorage.getItem("pourtier.wallet");
  const wallet = name && wallets.byName(name);
  if (!wallet) {
    throw new Error(
      `The wallet you signed in with${name ? ` (${name})` : ""} is not in this page: ` +
        "open it, or sign out and sign in again.",
    );
  }
  return { wallet, address: profile.wallet_address };
}

/** Prepare, sign, submit, then follow the transaction until it is final. */
async function transact(ctx, path, body, box) {
  const { wallet, address } = walletOf(ctx.profile());
  const prepared = await post(`/api/escrow/${path}`, body);
  box.show("Waiting for your wallet's signature…", "info");
  let signed;
  try {
    signed = await wallets.signTransaction(wallet, address, prepared.transaction);
  } catch (error) {
    const why = String(error?.message || error).replace(/\.$/, "");
    throw new Error(`The wallet did not sign: ${why}. Nothing was sent.`);
  }
  const submitted = await post("/api/escrow/submit", {
    transaction_id: prepared.transaction_id,
    signed_transaction: signed,
  });
  let row = submitted;
  for (let i = 0; i < POLL_LIMIT && !FINAL.has(row.status); i += 1) {
    box.show(`Sent (${short(submitted.signature)}): ${row.status}…`, "info");
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    row = await get(`/api/escrow/transactions/${prepared.transaction_id}`);
  }
  if (!FINAL.has(row.status)) {
    throw new Error(`Still ${row.status} after ${POLL_LIMIT} s: History shows it once final.`);
  }
  if (row.status !== "confirmed") {
    const why = row.error ? `: ${row.error}` : "";
    throw new Error(`The transaction ended ${row.status}${why}.`);
  }
  return row.status;
}

function explorerLink(ctx, signature) {
  if (!signature) return "—";
  const template = ctx.config.explorer;
  if (!template) return h("span", { className: "mono", title: signature }, short(signature));
  return h(
    "a",
    { href: template.replace("SIGNATURE", signature), target: "_blank", rel: "noopener" },
    short(signature),
    h("span", { className: "sr-only" }, " (opens the explorer)"),
  );
}

async function history(ctx) {
  const rows = await get("/api/escrow/transactions?limit=20");
  return listing(
    "History",
    "Transactions",
    ["When", "Type", "Amount (USDC)", "Status", "Transaction"],
    rows.map((row) => [
      when(row.created_at),
      row.type.replaceAll("_", " "),
      row.amount,
      row.error ? `${row.status}: ${row.error}` : row.status,
      explorerLink(ctx, row.signature),
    ]),
  );
}

function faucet(ctx, rerender) {
  return section(
    "Development: test funds",
    h("p", {}, "On the local chain: 1 SOL for fees and test USDC for your wallet."),
    form(
      "Faucet",
      [field("USDC", "amount", { value: "1000", inputmode: "decimal", required: true })],
      "Get test funds",
      async (values) => {
        const given = await post("/api/dev/faucet", {
          wallet_address: ctx.profile().wallet_address,
          amount: values.amount,
        });
        await rerender(`Your wallet now holds ${given.usdc_balance} USDC.`);
      },
    ),
  );
}

function actions(ctx, balance, rerender) {
  const act = (path, verb) => async (values, box) => {
    const body =
      path === "initialize"
        ? values.allowance
          ? { allowance: values.allowance }
          : {}
        : { amount: values.amount };
    await transact(ctx, path, body, box);
    await rerender(`${verb}: confirmed.`);
  };
  if (!balance.is_initialized) {
    return section(
      "Open your escrow",
      h(
        "p",
        {},
        "Your escrow is a token account your wallet owns. The allowance caps what the platform may charge for subscriptions; you can withdraw at any time.",
      ),
      form(
        "Initialize escrow",
        [
          field("Allowance (USDC)", "allowance", {
            inputmode: "decimal",
            hint: "Leave empty for twelve months of Pro.",
          }),
        ],
        "Initialize escrow",
        act("initialize", "Escrow initialized"),
      ),
    );
  }
  return section(
    "Move funds",
    h(
      "div",
      { className: "split" },
      form(
        "Deposit",
        [field("Deposit amount (USDC)", "amount", { inputmode: "decimal", required: true })],
        "Deposit",
        act("deposit", "Deposit"),
      ),
      form(
        "Withdraw",
        [field("Withdraw amount (USDC)", "amount", { inputmode: "decimal", required: true })],
        "Withdraw",
        act("withdraw", "Withdrawal"),
      ),
    ),
  );
}

export default async function render(body, ctx) {
  const status = feedback();
  const rerender = async (message) => {
    const balance = await get("/api/escrow/balance");
    const parts = [
      section(
        "Balance",
        h(
          "dl",
          {},
          h("dt", {}, "Balance"),
          h("dd", { "data-balance": balance.balance }, `${balance.balance} USDC`),
          h("dt", {}, "Allowance remaining"),
          h("dd", {}, `${balance.allowance_remaining} USDC`),
          h("dt", {}, "Escrow account"),
          h("dd", { className: "mono" }, balance.escrow_account),
          h("dt", {}, "State"),
          h("dd", {}, balance.is_initialized ? "Open" : "Not opened yet"),
        ),
        button("Refresh", () => rerender(), status, { className: "secondary" }),
        status,
      ),
      actions(ctx, balance, rerender),
    ];
    if (ctx.config.faucet) parts.push(faucet(ctx, rerender));
    parts.push(await history(ctx));
    body.replaceChildren(...parts);
    if (message) status.show(message, "ok");
  };
  await rerender();
}
