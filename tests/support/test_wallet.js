// The test wallet: a Wallet Standard wallet registered in the page before any
// of its scripts run (Playwright's add_init_script), as a browser extension
// does. It holds no key: every signature is asked of the test in Python
// through the binding named in the configuration, which may also refuse (as a
// person pressing Reject). `__POURTIER_TEST_WALLET__` is replaced by the
// configuration (tests/support/test_wallet.py): name, icon, address,
// publicKey (bytes), chains, features, binding.
(() => {
  const config = __POURTIER_TEST_WALLET__;
  const publicKey = new Uint8Array(config.publicKey);
  const listeners = { change: new Set() };
  let accounts = [];

  const toBase64 = (bytes) => {
    let text = "";
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text);
  };
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

  // One request to the test; a refusal is an Error, as wallets reject.
  async function ask(kind, payload) {
    const answer = await window[config.binding](kind, payload);
    if (answer.refused) throw new Error("User rejected the request.");
    return answer;
  }

  function makeAccount() {
    return Object.freeze({
      address: config.address,
      publicKey,
      chains: config.chains,
      features: config.features.filter((name) => name.startsWith("solana:")),
      label: config.name,
    });
  }

  function ownAccount(account) {
    if (!account || account.address !== config.address) {
      throw new Error(`Unknown account ${account && account.address}`);
    }
  }

  function emit(event, properties) {
    for (const listener of listeners[event]) listener(properties);
  }

  // The text of `createSignInMessageText` (@solana/wallet-standard-util),
  // field by field in its order; the wallet fills domain and address.
  function signInText(input) {
    let text = `${input.domain} wants you to sign in with your Solana account:\n`;
    text += input.address;
    if (input.statement) text += `\n\n${input.statement}`;
    const fields = [];
    if (input.uri) fields.push(`URI: ${input.uri}`);
    if (input.version) fields.push(`Version: ${input.version}`);
    if (input.chainId) fields.push(`Chain ID: ${input.chainId}`);
    if (input.nonce) fields.push(`Nonce: ${input.nonce}`);
    if (input.issuedAt) fields.push(`Issued At: ${input.issuedAt}`);
    if (input.expirationTime) fields.push(`Expiration Time: ${input.expirationTime}`);
    if (input.notBefore) fields.push(`Not Before: ${input.notBefore}`);
    if (input.requestId) fields.push(`Request ID: ${input.requestId}`);
    if (input.resources) {
      fields.push("Resources:");
      for (const resource of input.resources) fields.push(`- ${resource}`);
    }
    if (fields.length) text += `\n\n${fields.join("\n")}`;
    return text;
  }

  const all = {
    "standard:connect": {
      version: "1.0.0",
      async connect({ silent } = {}) {
        if (!accounts.length) {
          if (silent) return { accounts };
          await ask("connect", {});
          accounts = [makeAccount()];
          emit("change", { accounts });
        }
        return { accounts };
      },
    },
    "standard:disconnect": {
      version: "1.0.0",
      async disconnect() {
        accounts = [];
        emit("change", { accounts });
      },
    },
    "standard:events": {
      version: "1.0.0",
      on(event, listener) {
        listeners[event].add(listener);
        return () => listeners[event].delete(listener);
      },
    },
    "solana:signIn": {
      version: "1.0.0",
      async signIn(...inputs) {
        const outputs = [];
        for (const input of inputs) {
          const full = {
            ...input,
            domain: input.domain || window.location.host,
            address: input.address || config.address,
          };
          if (full.address !== config.address) throw new Error("Unknown address");
          const signedMessage = new TextEncoder().encode(signInText(full));
          const { signature } = await ask("signIn", { message: toBase64(signedMessage) });
          accounts = [makeAccount()];
          outputs.push({
            account: accounts[0],
            signedMessage,
            signature: fromBase64(signature),
            signatureType: "ed25519",
          });
        }
        emit("change", { accounts });
        return outputs;
      },
    },
    "solana:signMessage": {
      version: "1.1.0",
      async signMessage(...inputs) {
        const outputs = [];
        for (const { account, message } of inputs) {
          ownAccount(account);
          const answer = await ask("signMessage", { message: toBase64(message) });
          outputs.push({
            signedMessage: message,
            signature: fromBase64(answer.signature),
            signatureType: "ed25519",
          });
        }
        return outputs;
      },
    },
    "solana:signTransaction": {
      version: "1.0.0",
      supportedTransactionVersions: ["legacy", 0],
      async signTransaction(...inputs) {
        const outputs = [];
        for (const { account, transaction, chain } of inputs) {
          ownAccount(account);
          const answer = await ask("signTransaction", {
            transaction: toBase64(transaction),
            chain: chain || null,
          });
          outputs.push({ signedTransaction: fromBase64(answer.signedTransaction) });
        }
        return outputs;
      },
    },
  };

  const features = {};
  for (const name of config.features) features[name] = all[name];

  const wallet = Object.freeze({
    version: "1.0.0",
    name: config.name,
    icon: config.icon,
    chains: config.chains,
    features,
    get accounts() {
      return accounts;
    },
  });

  // The standard's handshake, both ways: announce the wallet now, to an
  // app already listening, and to every app that says it is ready later.
  const callback = ({ register }) => register(wallet);
  class RegisterWalletEvent extends Event {
    constructor(detail) {
      super("wallet-standard:register-wallet", {
        bubbles: false,
        cancelable: false,
        composed: false,
      });
      this._detail = detail;
    }
    get detail() {
      return this._detail;
    }
  }
  try {
    window.dispatchEvent(new RegisterWalletEvent(callback));
  } catch (error) {
    console.error("wallet-standard:register-wallet event failed", error);
  }
  window.addEventListener("wallet-standard:app-ready", ({ detail: api }) => {
    try {
      callback(api);
    } catch (error) {
      console.error("wallet-standard:app-ready handler failed", error);
    }
  });
})();
