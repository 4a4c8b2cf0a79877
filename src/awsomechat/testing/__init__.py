"""Contract test suites for the seams, shipped in the package so that a backend written outside
this repository can run them too (as Haystack's ``haystack.testing``).

A backend's test is the contract class plus a fixture that yields the backend::

    from awsomechat.testing.conversation_store import ConversationStoreContract

    class TestMyStore(ConversationStoreContract):
        @pytest.fixture
        def memory(self) -> Iterator[ConversationStore]:
            yield MyStore(...)

The suites need ``pytest`` (the ``dev`` extra); importing this package alone does not.
"""
