"""Where a call's bearer token comes from: signed here from the API key and secret (``signer``),
or signed elsewhere and sent as it is (``presigned``)."""
