// Internal failure of a CO-RE step; core.ts adds which relocation it concerns and rethrows it as
// a RelocationError.
export class CoreError extends Error {}
