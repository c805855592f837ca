"""What the public service is built from: its settings and lifetime (``base``, ``settings``,
``session``, ``connect``) and the calls made of other calls (``recovery``: checking a failed
create or delete; ``jobs``: waiting for a job; ``ensure``: one dispatch per agent)."""
