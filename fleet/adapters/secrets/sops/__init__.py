"""The SOPS file format (getsops/sops), implemented in process: AES-256-GCM values, age keys."""
