"""Test doubles that do real I/O: servers the code under test talks to over real sockets."""

from .openai_server import FakeOpenAIServer, FakeReply, RecordedRequest
from .otlp_receiver import OtlpReceiver

__all__ = ["FakeOpenAIServer", "FakeReply", "OtlpReceiver", "RecordedRequest"]
