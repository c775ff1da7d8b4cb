// Signing in: choose a wallet found in the page, sign, and either log in or,
// for a new wallet, read and accept the active legal documents to register.

import { get, post } from "../api.js";
import * as session from "../session.js";
import { feedback, h, run, section } from "../ui.js";
import * as wallets from "../wallets.js";

const nonce = (body) => post("/api/auth/nonce", body);

function choose(body, ctx) {
  const box = feedback();
  const list = h("ul", { className: "wallets" });
  const fill = () => {
    if (list.parentNode && !list.isConnected) {
      wallets.offChange(fill); // the page was left: its list is gone
      return;
    }
    const found = wallets.list();
    list.replaceChildren(
      ...found.map((wallet) => {
        const button = h(
          "button",
          { type: "button" },
          wallet.icon ? h("img", { src: wallet.icon, alt: "", width: 24, height: 24 }) : null,
          `Sign in with ${wallet.name}`,
        );
        button.addEventListener("click", () => run(button, box, () => signIn(wallet, body, ctx)));
        return h("li", {}, button, h("small", {}, wallets.method(wallet)));
      }),
    );
    if (!found.length) {
      list.append(
        h(
          "li",
          { className: "muted" },
          "No Solana wallet found in this browser. Install a Wallet Standard wallet ",
          "(Phantom, Solflare, Backpack…) and reload.",
        ),
      );
    }
  };
  wallets.onChange(fill);
  fill();
  body.append(
    section(
      "Choose a wallet",
      h("p", {}, "Signing in costs nothing and sends no transaction."),
      list,
      box,
    ),
  );
}

async function signIn(wallet, body, ctx) {
  const signed = await wallets.signIn(wallet, nonce);
  const checked = await post("/api/auth/verify", signed.body);
  sessionStorage.setItem("pourtier.wallet", wallet.name);
  if (checked.user_exists) {
    session.start(await post("/api/auth/login", signed.body));
    ctx.navigate("/");
    return;
  }
  await register(signed, body, ctx);
}

async function register(signed, body, ctx) {
  const documents = await get("/api/legal/documents");
  const box = feedback();
  const checks = documents.map((doc) =>
    h("input", { type: "checkbox", id: `accept-${doc.id}`, value: doc.id, required: true }),
  );
  const create = h("button", { type: "submit" }, "Accept and create my account");
  const form = h(
    "form",
    { "aria-label": "Accept the documents" },
    ...documents.map((doc, i) =>
      h(
        "article",
        { className: "document" },
        h("h3", {}, `${doc.title} (version ${doc.version})`),
        h(
          "div",
          { className: "document-text", tabindex: "0", role: "region", "aria-label": doc.title },
          doc.content,
        ),
        h(
          "div",
          { className: "check" },
          checks[i],
          h("label", { for: `accept-${doc.id}` }, `I have read and accept the ${doc.title}`),
        ),
      ),
    ),
    h("div", { className: "actions" }, create),
    box,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(create, box, async () => {
      const tokens = await post("/api/auth/register", {
        ...signed.body,
        accepted_document_ids: documents.map((doc) => doc.id),
      });
      session.start(tokens);
      ctx.navigate("/");
    });
  });
  body.replaceChildren(
    section(
      "Welcome: one step left",
      h(
        "p",
        {},
        `Wallet ${signed.address} has no account yet. Read and accept these documents to create one.`,
      ),
      form,
    ),
  );
  form.querySelector("input")?.focus();
}

export default function render(body, ctx) {
  body.append(
    h(
      "p",
      { className: "lead" },
      "Sign in with your Solana wallet to manage your escrow, subscription and account.",
    ),
  );
  choose(body, ctx);
}
