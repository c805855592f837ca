"""``python -m dispatch_client``: the same as the ``dispatch-client`` command."""

from .cli.main import main

main(prog_name="dispatch-client")
