"""Chat: streaming engines, settings and the conversation history."""
