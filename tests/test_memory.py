"""Conversation memory contract on the real PostgreSQL store (the suite is awsomechat.testing's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from awsomechat.container import Container
from awsomechat.seams import ConversationStore
from awsomechat.testing.conversation_store import ConversationStoreContract


class TestPgConversationStore(ConversationStoreContract):
    @pytest.fixture
    def memory(self, container: Container) -> Iterator[ConversationStore]:
        yield container.conversations
