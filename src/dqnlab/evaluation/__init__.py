"""Playing trained models: greedy evaluation, playback, videos, model references."""
