/**
 * The shapes of ModelProxy's JSON. Responses are the server's JSON as it came; these
 * types say which fields to expect (providers may add more, which are kept).
 */

/** One message of a conversation: `{ role: 'user', content: 'Hello' }`. */
export interface ChatMessage {
  role: string;
  content?: string | Array<Record<string, unknown>> | null;
  name?: string;
  tool_calls?: Array<Record<string, unknown>>;
  tool_call_id?: string;
  [key: string]: unknown;
}

/** Model tokens used by a request. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens?: number;
  total_tokens: number;
}

/** How a chat request names its endpoint: by path (seed surface) or by name (`/v1`). */
export interface EndpointChoice {
  /** The path of a chat endpoint, such as `/api/chat` (the default). */
  endpoint?: string;
  /** An endpoint's name (or model), sent through the OpenAI-compatible `/v1` surface. */
  model?: string;
}

/** The body of a chat completion: `messages` plus any OpenAI chat parameters. */
export interface ChatCompletionParams extends EndpointChoice {
  messages: ChatMessage[];
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
  stop?: string | string[];
  tools?: Array<Record<string, unknown>>;
  stream_options?: { include_usage?: boolean };
  [param: string]: unknown;
}

/** An OpenAI `chat.completion` object. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: string;
      content: string | null;
      refusal?: string | null;
      tool_calls?: Array<Record<string, unknown>>;
    };
    finish_reason: string | null;
    logprobs?: unknown;
  }>;
  usage?: Usage;
  system_fingerprint?: string | null;
  [key: string]: unknown;
}

/** An OpenAI `chat.completion.chunk`: one event of a streamed answer. */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: {
      role?: string;
      content?: string | null;
      refusal?: string | null;
      tool_calls?: Array<Record<string, unknown>>;
    };
    finish_reason: string | null;
    logprobs?: unknown;
  }>;
  /** Only on the last chunk, and only with `stream_options: { include_usage: true }`. */
  usage?: Usage | null;
  [key: string]: unknown;
}

/** The body of an embeddings request. */
export interface EmbeddingsParams {
  /** The path of an embeddings endpoint, such as `/api/embeddings` (the default). */
  endpoint?: string;
  /** An endpoint's name (or model), sent through the OpenAI-compatible `/v1` surface. */
  model?: string;
  input: string | string[] | number[] | number[][];
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
  [param: string]: unknown;
}

/** One vector per input, in order. */
export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage?: { prompt_tokens: number; total_tokens: number };
  [key: string]: unknown;
}

/** An endpoint the token may use: `id` its name, `endpoint` its path. */
export interface Model {
  id: string;
  object: 'model';
  created: number;
  /** The provider's name. */
  owned_by: string;
  endpoint: string;
  kind: 'chat' | 'embeddings' | string;
  /** The upstream model. */
  model: string;
  [key: string]: unknown;
}

export interface ModelList {
  object: 'list';
  data: Model[];
}

export interface Health {
  status: 'ok' | string;
  version: string;
  database: 'ok' | string;
  [key: string]: unknown;
}
