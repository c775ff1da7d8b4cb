// Wallets in the page, found through the Wallet Standard's two events: the
// app announces itself with `wallet-standard:app-ready` (carrying `register`),
// and wallets that load later announce themselves with
// `wallet-standard:register-wallet` (carrying a callback that calls
// `register`). Either way they arrive in `register`.

import { fromBase64, toBase58, toBase64, utf8 } from "./encoding.js";

const wallets = [];
const listeners = new Set();

function register(...found) {
  const added = found.filter((wallet) => !wallets.includes(wallet));
  wallets.push(...added);
  for (const listener of listeners) listener(list());
  return () => {
    for (const wallet of added) wallets.splice(wallets.indexOf(wallet), 1);
    for (const listener of listeners) listener(list());
  };
}

const registry = Object.freeze({ register });

window.addEventListener("wallet-standard:register-wallet", (event) => {
  try {
    event.detail(registry);
  } catch (error) {
    console.warn("A wallet failed to register", error);
  }
});
window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: registry }));

const SIGN_IN = "solana:signIn";
const SIGN_MESSAGE = "solana:signMessage";
const SIGN_TRANSACTION = "solana:signTransaction";
const CONNECT = "standard:connect";

const has = (wallet, feature) => Boolean(wallet.features?.[feature]);

/** The wallets that can sign the console in, in the order they arrived. */
export function list() {
  return wallets.filter(
    (wallet) =>
      has(wallet, SIGN_IN) ||
      (has(wallet, CONNECT) && (has(wallet, SIGN_MESSAGE) || has(wallet, SIGN_TRANSACTION))),
  );
}

export const onChange = (listener) => listeners.add(listener);
export const offChange = (listener) => listeners.delete(listener);
export const byName = (name) => list().find((wallet) => wallet.name === name);

/** How the console will sign in with this wallet, in words. */
export function method(wallet) {
  if (has(wallet, SIGN_IN)) return "one-step sign-in";
  if (has(wallet, SIGN_MESSAGE)) return "connect, then sign a message";
  return "connect, then sign a sign-in transaction (never sent)";
}

async function account(wallet, address) {
  let accounts = wallet.accounts || [];
  if (!address || !accounts.some((item) => item.address === address)) {
    ({ accounts } = await wallet.features[CONNECT].connect());
  }
  const chosen = address ? accounts.find((item) => item.address === address) : accounts[0];
  if (!chosen) throw new Error(`${wallet.name} has no account ${address ?? ""}`);
  return chosen;
}

/**
 * Sign the sign-in with `wallet`: `nonce(body)` asks the API for a nonce, and
 * the answer is the signed part of a verify, login or register body.
 */
export async function signIn(wallet, nonce) {
  if (has(wallet, SIGN_IN)) {
    const issued = await nonce({});
    const [output] = await wallet.features[SIGN_IN].signIn(issued.sign_in_input);
    return {
      address: output.account.address,
      body: {
        output: {
          address: output.account.address,
          signed_message: toBase64(output.signedMessage),
          signature: toBase64(output.signature),
        },
      },
    };
  }
  const { address } = await account(wallet);
  if (has(wallet, SIGN_MESSAGE)) {
    const issued = await nonce({ wallet_address: address });
    const chosen = await account(wallet, address);
    const [signed] = await wallet.features[SIGN_MESSAGE].signMessage({
      account: chosen,
      message: utf8(issued.message),
    });
    return {
      address,
      body: {
        wallet_address: address,
        message: issued.message,
        signature: toBase58(signed.signature),
      },
    };
  }
  const issued = await nonce({ wallet_address: address, method: "transaction" });
  const signed = await signTransaction(wallet, address, issued.transaction);
  return { address, body: { wallet_address: address, signed_transaction: signed } };
}

/** Have the wallet sign a prepared transaction (base64 in, base64 out). */
export async function signTransaction(wallet, address, transaction) {
  if (!has(wallet, SIGN_TRANSACTION)) {
    throw new Error(`${wallet.name} cannot sign transactions.`);
  }
  const chosen = await account(wallet, address);
  const [output] = await wallet.features[SIGN_TRANSACTION].signTransaction({
    account: chosen,
    transaction: fromBase64(transaction),
  });
  return toBase64(output.signedTransaction);
}
