"""User feedback on replies: storage, listing and export."""
