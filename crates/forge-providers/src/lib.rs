//! Anthropic, OpenAI and Gemini adapters for forge over hyper and rustls, with streaming, retries, limits and routing.
