"""OpenRouter: the OpenAI API plus attribution headers."""

from server.providers.openai_compatible import OpenAICompatibleAdapter


class OpenRouterAdapter(OpenAICompatibleAdapter):
    def default_headers(self) -> dict[str, str]:
        # OpenRouter's attribution headers; an admin's own headers override them.
        return {**super().default_headers(), "HTTP-Referer": "https://github.com/modelproxy",
                "X-Title": "ModelProxy"}
