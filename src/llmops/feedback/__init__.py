"""User feedback on triage replies: storage, listing, export, and mining bad replies into eval cases."""

from llmops.feedback.models import Feedback, FeedbackIn, FeedbackItem, FeedbackPage
from llmops.feedback.store import FeedbackStore
from llmops.storage.cursor import CursorError

__all__ = ["CursorError", "Feedback", "FeedbackIn", "FeedbackItem", "FeedbackPage", "FeedbackStore"]
