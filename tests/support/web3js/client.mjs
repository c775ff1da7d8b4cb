// A stock @solana/web3.js Connection against a JSON-RPC URL: airdrop, balance,
// a signed System transfer, the recipient's balance. Prints one JSON line.
import {
  Connection,
  Keypair,
  SystemProgram,
  Transaction,
} from "@solana/web3.js";

const [url, lamportsText] = process.argv.slice(2);
const lamports = Number(lamportsText);
const connection = new Connection(url, "confirmed");

async function settled(signature) {
  for (let i = 0; i < 200; i += 1) {
    const { value } = await connection.getSignatureStatus(signature);
    if (value && value.confirmationStatus) {
      if (value.err) throw new Error(JSON.stringify(value.err));
      return value.confirmationStatus;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`not landed: ${signature}`);
}

const payer = Keypair.generate();
const recipient = Keypair.generate();
await settled(await connection.requestAirdrop(payer.publicKey, 2_000_000_000));
const funded = await connection.getBalance(payer.publicKey);
const transfer = new Transaction().add(
  SystemProgram.transfer({
    fromPubkey: payer.publicKey,
    toPubkey: recipient.publicKey,
    lamports,
  }),
);
const signature = await connection.sendTransaction(transfer, [payer]);
const status = await settled(signature);
console.log(
  JSON.stringify({
    funded,
    status,
    signature,
    recipient: recipient.publicKey.toBase58(),
    received: await connection.getBalance(recipient.publicKey),
    payer_after: await connection.getBalance(payer.publicKey),
    height: await connection.getBlockHeight(),
    version: (await connection.getVersion())["solana-core"],
  }),
);
