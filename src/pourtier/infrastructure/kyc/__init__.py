"""Identity-check providers: adapters of the `KycProvider` port (domain/kyc.py)."""
