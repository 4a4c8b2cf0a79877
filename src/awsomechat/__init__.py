"""AWSomeChat: a self-hostable document chatbot (hybrid retrieval + grounded answers)."""

__version__ = "0.1.0"
