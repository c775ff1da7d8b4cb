// A wallet signing in the Wallet Standard way, with the reference message
// functions: ask for a nonce with no body, build the text from the server's
// `sign_in_input` as wallets do, sign it (ed25519), check it with
// `verifySignIn`, register with the output, then log in again in one step.
// Also checks that a wallet-bound nonce's `message` is the reference text of
// its `sign_in_input`, byte for byte. Usage: node sign_in.mjs BASE_URL
import { generateKeyPairSync, sign } from "node:crypto";
import assert from "node:assert/strict";
import {
  createSignInMessageText,
  parseSignInMessage,
  verifySignIn,
} from "@solana/wallet-standard-util";

const base = process.argv[2];
const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function base58(bytes) {
  let n = BigInt("0x" + (Buffer.from(bytes).toString("hex") || "0"));
  let out = "";
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const byte of bytes) {
    if (byte !== 0) break;
    out = "1" + out;
  }
  return out;
}

async function call(method, path, body, expected) {
  const init = { method, headers: { "content-type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(base + path, init);
  const text = await response.text();
  assert.equal(response.status, expected, `${method} ${path}: ${text}`);
  return JSON.parse(text);
}

function newWallet() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
  return { publicKey: new Uint8Array(raw), address: base58(raw), privateKey };
}

// What a wallet's `signIn(input)` returns, made the reference way.
function signIn(wallet, input) {
  const full = { ...input, address: wallet.address };
  const signedMessage = new TextEncoder().encode(createSignInMessageText(full));
  const signature = new Uint8Array(sign(null, signedMessage, wallet.privateKey));
  const output = {
    account: { address: wallet.address, publicKey: wallet.publicKey },
    signedMessage,
    signature,
  };
  assert.ok(verifySignIn(full, output), "verifySignIn refused our own output");
  return output;
}

function asBody(output, signatureEncoding) {
  const signature = Buffer.from(output.signature);
  return {
    address: output.account.address,
    signed_message: Buffer.from(output.signedMessage).toString("base64"),
    signature:
      signatureEncoding === "base64" ? signature.toString("base64") : base58(signature),
  };
}

const wallet = newWallet();
const documents = await call("GET", "/api/legal/documents", undefined, 200);
const accepted = documents.map((doc) => doc.id);

// Register: nonce asked with no body at all.
const first = await call("POST", "/api/auth/nonce", undefined, 200);
assert.equal(first.message, undefined);
assert.equal(first.sign_in_input.address, undefined);
assert.equal(first.sign_in_input.nonce, first.nonce);
const registered = await call(
  "POST",
  "/api/auth/register",
  {
    output: asBody(signIn(wallet, first.sign_in_input), "base58"),
    accepted_document_ids: accepted,
  },
  201,
);
assert.equal(registered.user.wallet_address, wallet.address);

// Log in again, one step: nonce asked with `{}`, signature in base64.
const second = await call("POST", "/api/auth/nonce", {}, 200);
const loggedIn = await call(
  "POST",
  "/api/auth/login",
  { output: asBody(signIn(wallet, second.sign_in_input), "base64") },
  200,
);
assert.equal(loggedIn.user.id, registered.user.id);

// A nonce asked for the wallet: its message is the reference text.
const bound = await call(
  "POST",
  "/api/auth/nonce",
  { wallet_address: wallet.address },
  200,
);
assert.equal(bound.sign_in_input.address, wallet.address);
assert.equal(bound.message, createSignInMessageText(bound.sign_in_input));
const parsed = parseSignInMessage(new TextEncoder().encode(bound.message));
for (const [key, value] of Object.entries(bound.sign_in_input)) {
  assert.equal(parsed[key], value, `parseSignInMessage: ${key}`);
}
console.log(JSON.stringify({ user: registered.user.id, wallet: wallet.address }));
