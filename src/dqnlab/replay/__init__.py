"""Replay buffers: storages, frame storage, n-step returns, prioritized sampling."""
