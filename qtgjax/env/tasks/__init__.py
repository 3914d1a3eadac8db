"""Tasks of the environment (one module each, registered in :mod:`qtgjax.env.registry`)."""
