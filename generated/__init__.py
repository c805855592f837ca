# Generated from proto/ by tools/generate.py (betterproto2). DO NOT EDIT.
