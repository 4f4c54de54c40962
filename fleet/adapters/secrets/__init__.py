"""Secrets on the management host: SOPS files (age keys) decrypted in process.

The public interface; the format itself lives in ``fleet.adapters.secrets.sops``.
"""

from __future__ import annotations

from fleet.adapters.secrets.errors import SopsError
from fleet.adapters.secrets.sops.agekeys import load_identities
from fleet.adapters.secrets.sops.api import (
    decrypt_mapping,
    decrypt_text,
    encrypt_text,
    is_encrypted,
    recipients_of,
    rotate_text,
    update_keys_text,
)
from fleet.adapters.secrets.sops.formats import Format, format_for_path

__all__ = [
    "Format",
    "SopsError",
    "decrypt_mapping",
    "decrypt_text",
    "encrypt_text",
    "format_for_path",
    "is_encrypted",
    "load_identities",
    "recipients_of",
    "rotate_text",
    "update_keys_text",
]
