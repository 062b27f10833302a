"""`Secret` never shows its value."""

from __future__ import annotations

import logging
import pickle

import pytest
from shopper_chat import Secret

VALUE = "s3cr3t-value-123"


def test_repr_str_format_and_fstring_hide_the_value() -> None:
    secret = Secret(VALUE)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret, ">30"),
                  repr([secret]), repr({"k": secret}), "%s" % secret):  # noqa: UP031
        assert VALUE not in shown
        assert "Secret('**********')" in shown
    assert secret.get_secret_value() == VALUE


def test_logging_a_secret_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("secret is %s / %r", Secret(VALUE), Secret(VALUE))
    assert VALUE not in caplog.text
    assert "Secret('**********')" in caplog.text


def test_equality_is_by_value_and_never_with_a_plain_string() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret("other")
    assert Secret(VALUE) != VALUE
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert Secret(Secret(VALUE)).get_secret_value() == VALUE
    assert not Secret("")


def test_a_secret_holds_text_only_and_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pickle.dumps(Secret(VALUE))
