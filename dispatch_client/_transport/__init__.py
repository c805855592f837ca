"""One call on the wire: its attempts, deadline, retries and checks (``call``), one POST (``http``),
what a request carries (``request``), how answers become errors (``responses``), the token kept
out of them (``redact``), what is retried (``retry``), and region failover (``failover``,
``regions``)."""
