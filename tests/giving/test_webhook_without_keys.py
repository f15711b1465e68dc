"""Stripe's keys are required in production, and a webhook that reaches an instance
without them answers 503 with one plain line, writing nothing (issue 16, leftovers).

Before, a production instance started without them and answered each webhook with a
500 page (the gateway raised a settings error inside the request)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conservancy import create_app
from conservancy.infra.config import Environment, Settings, SettingsError
from conservancy.runtime import Runtime
from conservancy.staff.totp_keys import new_key
from tests.environment import settings_env
from tests.giving.flows import signature
from tests.giving.test_webhook_input import URL, event_payload, written

CONSERVANCY = Path(sys.executable).parent / "conservancy"


def test_a_webhook_without_a_signing_secret_answers_503_in_plain_words_and_writes_nothing(
    runtime: Runtime,
) -> None:
    """A test or demo instance started without Stripe's settings (as `runtime` is)."""
    assert runtime.settings.stripe_webhook_secret is None
    client = create_app(runtime=runtime).test_client()
    before = written(runtime)
    payload = event_payload()

    answer = client.post(
        URL,
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature(payload)},
    )

    assert answer.status_code == 503
    assert answer.mimetype == "text/plain"
    assert answer.text.strip() == (
        "Stripe webhooks are not set up on this server (no Stripe key or signing secret); "
        "nothing was recorded."
    )
    assert written(runtime) == before


def test_the_same_with_a_key_but_no_signing_secret(runtime: Runtime) -> None:
    half = Runtime.from_settings(replace(runtime.settings, stripe_secret_key="sk_test_half"))
    try:
        client = create_app(runtime=half).test_client()
        before = written(runtime)
        answer = client.post(URL, data=event_payload(), headers={"Stripe-Signature": "t=1,v1=0"})
        assert answer.status_code == 503
        assert "nothing was recorded" in answer.text
        assert written(runtime) == before
    finally:
        half.close()


@pytest.mark.parametrize(
    ("missing", "given"),
    [
        ("CONSERVANCY_STRIPE_SECRET_KEY", {"stripe_webhook_secret": "whsec_live"}),
        ("CONSERVANCY_STRIPE_WEBHOOK_SECRET", {"stripe_secret_key": "sk_live_key"}),
    ],
)
def test_production_without_a_stripe_key_or_signing_secret_refuses_to_start_naming_it(
    settings: Settings, missing: str, given: dict[str, str]
) -> None:
    production = replace(settings, env=Environment.PRODUCTION, totp_keys=(new_key(),), **given)

    with pytest.raises(SettingsError) as caught:
        create_app(settings=production)

    assert missing in str(caught.value)
    assert "\n" not in str(caught.value)


def test_serve_in_production_without_stripe_keys_exits_2_with_one_line(settings: Settings) -> None:
    env = settings_env(settings) | {
        "CONSERVANCY_ENV": "production",
        "CONSERVANCY_SECRET_KEY": "a production secret key of our own",
        "CONSERVANCY_TOTP_KEYS": new_key(),
    }

    result = subprocess.run(
        [str(CONSERVANCY), "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: CONSERVANCY_STRIPE_SECRET_KEY is required in production")
    assert "Traceback" not in result.stderr


def test_demo_and_test_still_start_without_stripe_keys(settings: Settings) -> None:
    for env in (Environment.DEMO, Environment.TEST):
        replace(settings, env=env).require_stripe()  # no error: the webhook answers 503
