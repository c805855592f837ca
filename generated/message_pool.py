# Generated from proto/ by tools/generate.py (betterproto2). DO NOT EDIT.
import betterproto2

default_message_pool = betterproto2.MessagePool()  # type: ignore[no-untyped-call]
