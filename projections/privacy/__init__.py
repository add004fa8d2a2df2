"""Privacy at the boundary (issue 20, docs/privacy.md): the key store table, the field cipher, erasure's ledger and
the scrubbing of derived plaintext in the reporting tables."""
