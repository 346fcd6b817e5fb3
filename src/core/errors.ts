// Typed errors of the hypervisor core. The API maps them to HTTP problem responses; every message
// says what was wrong and, where it can, what to do.

export class PlexusError extends Error {
  override name = "PlexusError";
  /** HTTP status the API answers with. */
  readonly status: number = 400;
}

/** The request names something that does not exist (instance, port, NF type, table entry). */
export class NotFoundError extends PlexusError {
  override name = "NotFoundError";
  override readonly status = 404;
}

/** The request conflicts with the current state (name taken, port already connected). */
export class ConflictError extends PlexusError {
  override name = "ConflictError";
  override readonly status = 409;
}

/** The request is well-formed but not valid (bad config, unsupported combination). */
export class ValidationError extends PlexusError {
  override name = "ValidationError";
  override readonly status = 422;
}
