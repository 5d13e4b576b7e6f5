"""netctl: container networking without a daemon, in libnetwork's model."""
