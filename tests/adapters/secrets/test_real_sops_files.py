"""Files made by the real sops tool (see fixtures/README.md) decrypt exactly."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from fleet.adapters.secrets import SopsError, decrypt_mapping, decrypt_text, load_identities
from tests.adapters.secrets.conftest import FIXTURES


def test_flux_secret_yaml_decrypts_with_encrypted_regex() -> None:
    identities = load_identities([FIXTURES / "flux-age.txt"])
    data = (FIXTURES / "flux-secret.age.yaml").read_bytes()
    plain = yaml.safe_load(decrypt_text(data, "yaml", identities, path="flux-secret.age.yaml"))
    assert plain == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "sops-age"},
        "stringData": {"secret": "my-sops-age-secret"},
    }


def test_flux_secret_as_a_parsed_manifest_like_rendered_output() -> None:
    identities = load_identities([FIXTURES / "flux-age.txt"])
    doc = yaml.safe_load((FIXTURES / "flux-secret.age.yaml").read_text())
    plain = decrypt_mapping(doc, identities, path="flux-secret.age.yaml")
    assert "sops" not in plain
    assert plain["stringData"] == {"secret": "my-sops-age-secret"}
    assert "sops" in doc  # the caller's document is not changed


def test_flux_dotenv_decrypts_exactly() -> None:
    identities = load_identities([FIXTURES / "flux-age.txt"])
    data = (FIXTURES / "flux-year.env").read_bytes()
    assert decrypt_text(data, "dotenv", identities, path="year.env") == b"year=2017\n"


def test_helm_secrets_values_decrypt_with_types_and_nesting() -> None:
    identities = load_identities([FIXTURES / "helm-secrets-age.txt"])
    data = (FIXTURES / "helm-secrets.age.yaml").read_bytes()
    plain = yaml.safe_load(decrypt_text(data, "yaml", identities, path="secrets.age.yaml"))
    assert list(plain) == ["global_secret", "key", "service"]
    assert plain["global_secret"] == "global_age"
    assert plain["service"] == {"port": 92}
    key = plain["key"]
    assert key.startswith("-----BEGIN PGP MESSAGE-----\n\nwcFMAxYpv4YXKfBAARAAVzE7")
    assert key.endswith("=jf7D\n-----END PGP MESSAGE-----")
    assert hashlib.sha256(key.encode()).hexdigest() == (
        "8099c7b5f61230880482096ffa3c950db2ae11270d40383a963f3defc111a2d8"
    )


def test_real_file_with_a_changed_value_fails_the_mac() -> None:
    identities = load_identities([FIXTURES / "helm-secrets-age.txt"])
    text = (FIXTURES / "helm-secrets.age.yaml").read_text()
    port = text.splitlines()[3].split(": ", 1)[1]
    secret = text.splitlines()[0].split(": ", 1)[1]
    assert port.startswith("ENC[")
    assert secret.startswith("ENC[")
    # Swap the two values: each still decrypts only under its own path, so GCM refuses.
    swapped = text.replace(port, "@PORT@").replace(secret, port).replace("@PORT@", secret)
    with pytest.raises(SopsError, match="MAC mismatch"):
        decrypt_text(swapped.encode(), "yaml", identities, path="secrets.age.yaml")


def test_real_file_with_the_other_projects_key_names_the_recipient() -> None:
    identities = load_identities([FIXTURES / "helm-secrets-age.txt"])
    data = (FIXTURES / "flux-secret.age.yaml").read_bytes()
    with pytest.raises(SopsError) as caught:
        decrypt_text(data, "yaml", identities, path="flux-secret.age.yaml")
    message = str(caught.value)
    assert message.startswith("flux-secret.age.yaml: no key for any recipient")
    assert "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29" in message
