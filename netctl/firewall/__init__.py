"""netctl's firewall: the nftables tables derived from the state, changed as one batch.

``rules`` is pure (state -> table text), ``nft`` is the only module that runs ``nft`` or
writes forwarding sysctls, ``sync`` puts the two together as one undoable transaction step.
"""
