"""Shared by the rules tests: the async backend for MCP client tests."""
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


def text_of(result) -> str:
    """The text blocks of an MCP tool result, joined (for error messages)."""
    return " ".join(getattr(c, "text", "") for c in result.content)
