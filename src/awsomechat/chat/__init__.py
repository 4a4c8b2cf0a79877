"""The answer engine: conversational RAG with citations, abstention and memory."""
