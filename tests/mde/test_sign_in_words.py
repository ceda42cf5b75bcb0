"""Entra ID's error responses become one plain sentence: the AADSTS code once, then what to do."""

from __future__ import annotations

import pytest

from enrich.mde.errors import auth_error_from_response

WHERE = {"tenant_id": "t-1", "client_id": "c-1", "login_url": "https://login.microsoftonline.com"}


def test_a_resource_of_another_cloud_says_so():
    payload = {
        "error": "invalid_resource",
        "error_description": "AADSTS500011: The resource principal named https://api-gov.securitycenter."
        "microsoft.us was not found in the tenant named t-1.\r\nTrace ID: x",
        "error_codes": [500011],
    }
    text = str(auth_error_from_response(payload, **WHERE))
    assert text.count("AADSTS500011") == 1
    assert "--cloud" in text


@pytest.mark.parametrize("code", [50034, 123456])
def test_a_code_without_words_keeps_entras_sentence_without_repeating_the_code(code):
    payload = {
        "error": "invalid_request",
        "error_description": f"AADSTS{code}: Something Entra said.\r\nTrace ID: x\r\nCorrelation ID: y",
        "error_codes": [code],
    }
    text = str(auth_error_from_response(payload, **WHERE))
    assert text == f"could not sign in to Microsoft Entra ID (AADSTS{code}): Something Entra said."
