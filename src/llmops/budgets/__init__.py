"""Token and cost caps per user, per API key and global, over rolling windows."""
