//! A wire-exact, deterministic offline emulator of the Anthropic, OpenAI and Gemini APIs.
