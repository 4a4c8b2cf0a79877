"""The Kendra-compatible endpoint: ``POST /kendra`` speaks Amazon Kendra's JSON 1.1 protocol
(``Query`` and ``Retrieve``), authenticated by AWS SigV4 with AWSomeChat API keys, so code written
for Kendra (boto3, LangChain's Kendra retriever, the lab's notebooks) runs against AWSomeChat.
See docs/kendra.md."""
