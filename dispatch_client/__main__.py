"""``python -m dispatch_client``: the same as the ``dispatch-client`` command."""

from .cli import main

main(prog_name="dispatch-client")
