"""The escrow on any Solana node: derive, prepare, check signatures, charge.

Everything here is the same for the local VM and a JSON-RPC node; only the
`Node` underneath differs, so both adapters pass the same tests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import (
    AllocateWithSeedParams,
    TransferParams,
    allocate_with_seed,
    transfer,
)
from solders.transaction import Transaction, VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    approve_checked,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    initialize_account,
    transfer_checked,
)
from spl.token.models import (
    ApproveCheckedParams,
    InitializeAccountParams,
    TransferCheckedParams,
)

from pourtier.domain.errors import InvalidInput
from pourtier.domain.escrow import (
    ChainMovement,
    EscrowState,
    MovementPage,
    PreparedTransaction,
    SignatureState,
    SignedTransaction,
)
from pourtier.domain.money import USDC_DECIMALS
from pourtier.infrastructure.solana.node import (
    MAX_SIGNATURES_PER_PAGE,
    ChainTransaction,
    HistoryPage,
    Node,
    SignatureInfo,
    TokenBalance,
)
from pourtier.infrastructure.solana.token_accounts import (
    TOKEN_ACCOUNT_SIZE,
    decode_token_account,
)

ESCROW_SEED = "pourtier-escrow-v1"
MAX_TRANSACTION_BYTES = 1232


def escrow_address(wallet: Pubkey) -> Pubkey:
    """Anyone can derive it: System account-with-seed, base = the wallet."""
    return Pubkey.create_with_seed(wallet, ESCROW_SEED, TOKEN_PROGRAM_ID)


class SolanaEscrowChain:
    history_page = MAX_SIGNATURES_PER_PAGE  # signatures per getSignaturesForAddress

    def __init__(
        self,
        node: Node,
        mint: Pubkey,
        fee_authority: Keypair,
        treasury: Pubkey,
    ) -> None:
        self.node = node
        self._mint = mint
        self._fee_authority = fee_authority
        self._treasury = treasury

    @property
    def usdc_mint(self) -> str:
        return str(self._mint)

    @property
    def fee_authority(self) -> str:
        return str(self._fee_authority.pubkey())

    def escrow_address(self, wallet_address: str) -> str:
        return str(escrow_address(Pubkey.from_string(wallet_address)))

    async def escrow_state(self, wallet_address: str) -> EscrowState:
        address = escrow_address(Pubkey.from_string(wallet_address))
        account = await self.node.get_account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            return EscrowState(str(address), False, 0, None, 0, str(self._mint))
        token = decode_token_account(bytes(account.data))
        return EscrowState(
            address=str(address),
            exists=token.initialized,
            balance=token.amount,
            delegate=str(token.delegate) if token.delegate else None,
            delegated_amount=token.delegated_amount,
            mint=str(token.mint),
        )

    async def wallet_usdc_balance(self, wallet_address: str) -> int:
        ata = get_associated_token_address(
            Pubkey.from_string(wallet_address), self._mint
        )
        account = await self.node.get_account(ata)
        if account is None:
            return 0
        return decode_token_account(bytes(account.data)).amount

    async def _prepare(
        self, wallet: Pubkey, instructions: list[Instruction]
    ) -> PreparedTransaction:
        blockhash, last_valid = await self.node.latest_blockhash()
        message = Message.new_with_blockhash(instructions, wallet, blockhash)
        return PreparedTransaction(bytes(Transaction.new_unsigned(message)), last_valid)

    async def prepare_initialize(
        self, wallet_address: str, allowance: int
    ) -> PreparedTransaction:
        """Claim the escrow address whatever lamports a stranger sent to it.

        `create_account_with_seed` fails on an address that holds any
        lamports, and anyone can send some (the address is public), so the
        account is made in steps that work either way: the wallet tops it up
        to rent exemption if it is short, then `allocate_with_seed` sizes it
        and assigns it to the Token program in one instruction (it needs the
        wallet's signature as the seed's base: no stranger can do this part).
        A stranger can only add lamports, so a top-up computed now still
        suffices if more arrive before this lands.
        """
        wallet = Pubkey.from_string(wallet_address)
        escrow = escrow_address(wallet)
        rent = await self.node.minimum_balance(TOKEN_ACCOUNT_SIZE)
        account = await self.node.get_account(escrow)
        top_up = rent - (account.lamports if account is not None else 0)
        instructions: list[Instruction] = []
        if top_up > 0:
            instructions.append(
                transfer(
                    TransferParams(
                        from_pubkey=wallet, to_pubkey=escrow, lamports=top_up
                    )
                )
            )
        instructions += [
            allocate_with_seed(
                AllocateWithSeedParams(
                    address=escrow,
                    base=wallet,
                    seed=ESCROW_SEED,
                    space=TOKEN_ACCOUNT_SIZE,
                    owner=TOKEN_PROGRAM_ID,
                )
            ),
            initialize_account(
                InitializeAccountParams(
                    program_id=TOKEN_PROGRAM_ID,
                    account=escrow,
                    mint=self._mint,
                    owner=wallet,
                )
            ),
            approve_checked(
                ApproveCheckedParams(
                    program_id=TOKEN_PROGRAM_ID,
                    source=escrow,
                    mint=self._mint,
                    delegate=self._fee_authority.pubkey(),
                    owner=wallet,
                    amount=allowance,
                    decimals=USDC_DECIMALS,
                )
            ),
        ]
        return await self._prepare(wallet, instructions)

    def _transfer(
        self, source: Pubkey, dest: Pubkey, owner: Pubkey, amount: int
    ) -> Instruction:
        return transfer_checked(
            TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=source,
                mint=self._mint,
                dest=dest,
                owner=owner,
                amount=amount,
                decimals=USDC_DECIMALS,
            )
        )

    async def prepare_deposit(
        self, wallet_address: str, amount: int
    ) -> PreparedTransaction:
        """From the wallet's USDC account into its escrow."""
        wallet = Pubkey.from_string(wallet_address)
        own = get_associated_token_address(wallet, self._mint)
        transfer = self._transfer(own, escrow_address(wallet), wallet, amount)
        return await self._prepare(wallet, [transfer])

    async def prepare_withdraw(
        self, wallet_address: str, amount: int
    ) -> PreparedTransaction:
        """From the escrow back to the wallet's USDC account, made if missing."""
        wallet = Pubkey.from_string(wallet_address)
        own = get_associated_token_address(wallet, self._mint)
        made = create_idempotent_associated_token_account(wallet, wallet, self._mint)
        transfer = self._transfer(escrow_address(wallet), own, wallet, amount)
        return await self._prepare(wallet, [made, transfer])

    def check_signed(self, prepared: bytes, signed: bytes, wallet_address: str) -> str:
        if len(signed) > MAX_TRANSACTION_BYTES:
            raise InvalidInput("signed_transaction is too large")
        try:
            transaction = Transaction.from_bytes(signed)
        except ValueError:
            raise InvalidInput(
                "signed_transaction is not a Solana transaction"
            ) from None
        if bytes(transaction) != signed:  # the parser ignores trailing bytes
            raise InvalidInput("signed_transaction is not a Solana transaction")
        expected = Transaction.from_bytes(prepared).message
        if bytes(transaction.message) != bytes(expected):
            raise InvalidInput("signed_transaction is not the prepared transaction")
        wallet = Pubkey.from_string(wallet_address)
        signatures = transaction.signatures
        keys = transaction.message.account_keys
        if len(signatures) != 1 or keys[0] != wallet:
            raise InvalidInput("signed_transaction must be signed by the wallet only")
        signature = signatures[0]
        if not signature.verify(wallet, bytes(transaction.message)):
            raise InvalidInput("signed_transaction has an invalid signature")
        return str(signature)

    async def sign_charge(self, wallet_address: str, amount: int) -> SignedTransaction:
        wallet = Pubkey.from_string(wallet_address)
        authority = self._fee_authority
        blockhash, last_valid = await self.node.latest_blockhash()
        instruction = self._transfer(
            escrow_address(wallet), self._treasury, authority.pubkey(), amount
        )
        message = Message.new_with_blockhash(
            [instruction], authority.pubkey(), blockhash
        )
        transaction = Transaction([authority], message, blockhash)
        return SignedTransaction(
            bytes(transaction), str(transaction.signatures[0]), last_valid
        )

    async def send(self, transaction: bytes) -> None:
        await self.node.send_raw(transaction)

    async def signature_state(self, signature: str) -> SignatureState:
        return await self.node.signature_state(Signature.from_string(signature))

    async def block_height(self) -> int:
        return await self.node.block_height()

    async def health(self) -> str:
        return await self.node.health()

    async def escrow_movements(
        self, wallet_address: str, after_signature: str | None, limit: int
    ) -> MovementPage:
        """One getSignaturesForAddress per 1000 new signatures, then one
        getTransaction per successful one read (at most `limit`)."""
        escrow = escrow_address(Pubkey.from_string(wallet_address))
        newer: list[SignatureInfo] = []
        while True:
            before = newer[-1].signature if newer else None
            page = await self.node.signatures(
                escrow, HistoryPage(before, after_signature, self.history_page)
            )
            newer.extend(page)
            if len(page) < self.history_page:
                break
        movements: list[ChainMovement] = []
        cursor: str | None = None
        for info in list(reversed(newer))[:limit]:
            if info.error is None:
                found = await self.node.get_transaction(info.signature)
                if found is None:
                    break  # not served yet: read it next time
                movements.append(self._movement(escrow, found))
            cursor = info.signature
        return MovementPage(movements, cursor)

    def _movement(self, escrow: Pubkey, found: ChainTransaction) -> ChainMovement:
        index = (
            found.account_keys.index(str(escrow))
            if str(escrow) in found.account_keys
            else -1
        )

        def balance(balances: list[TokenBalance]) -> int:
            return sum(
                b.amount
                for b in balances
                if b.account_index == index and b.mint == str(self._mint)
            )

        delta = balance(found.post_token_balances) - balance(found.pre_token_balances)
        signed = VersionedTransaction.from_bytes(found.transaction)
        message = signed.message
        return ChainMovement(
            signature=found.signature,
            delta=delta,
            slot=found.slot,
            block_time=datetime.fromtimestamp(found.block_time, UTC)
            if found.block_time is not None
            else None,
            signed_transaction=found.transaction,
            unsigned_transaction=bytes(Transaction.new_unsigned(message))
            if isinstance(message, Message)
            else None,
        )
