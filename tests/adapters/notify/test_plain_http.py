"""A URL that is a credential (Slack's, a tokened webhook) never crosses the network in clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.adapters.notify.delivery import DeliveryError
from fleet.adapters.notify.slack import SlackSender
from fleet.adapters.notify.webhook import WebhookSender
from tests.adapters.notify.test_senders import FAILED, secret_file

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("kind", ["slack", "webhook"])
async def test_a_credential_url_over_plain_http_is_refused_before_sending(
    tmp_path: Path, kind: str
) -> None:
    # 192.0.2.0/24 is TEST-NET-1: nothing answers there, so only the check can fail fast.
    path = secret_file(tmp_path, "url", "http://192.0.2.10/services/T0/B0/s3cr3t")
    sender: SlackSender | WebhookSender
    if kind == "slack":
        sender = SlackSender("chat", url_file=path, timeout=5.0)
    else:
        sender = WebhookSender(
            "hook",
            url=None,
            url_file=path,
            secret_file=None,
            signature_header="X-Fleet-Signature",
            timeout=5.0,
        )
    try:
        with pytest.raises(DeliveryError) as caught:
            await sender.send(FAILED)
    finally:
        await sender.aclose()
    assert caught.value.retryable is False
    assert f"in {path} is plain http://" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
