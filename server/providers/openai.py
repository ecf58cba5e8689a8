"""OpenAI itself."""

from server.providers.openai_compatible import OpenAICompatibleAdapter


class OpenAIAdapter(OpenAICompatibleAdapter):
    """api.openai.com; the base URL default comes from app.services.provider_types. Speaks
    the Responses API too (chat first: every client dialect translates to it cleanly)."""

    dialects = ("chat", "responses")
