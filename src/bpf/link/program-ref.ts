// What attaching needs from a program: its fd (and its id, when known, for messages and lookups).
// BpfProgram (src/bpf/prog/program.ts) satisfies it, as does any loaded-program handle.

export interface ProgramRef {
  readonly fd: number;
  readonly id?: number;
}
