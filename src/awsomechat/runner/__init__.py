"""The model runner: the chat model in its own process, shared by every API worker and supervised.

A native crash in llama.cpp (or an out-of-memory kill) then takes down only the runner: answers in
flight end with an error event, new chat requests get 503 + Retry-After, and the supervisor in
``awsomechat serve`` restarts it with backoff, or leaves it down with its reason after a crash loop.
"""
