/** The errors of http/: the server and the /streams API. */
export class HttpServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpServerError';
  }
}

export class StreamRequestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamRequestError';
  }
}
