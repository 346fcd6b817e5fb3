// Uploaded files: NF package archives unpacked with the system tar, object files written out, each
// in a fresh directory under the daemon's private work directory, removed when done.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApiRequestError } from "./problem.js";

export interface Upload {
  /** The package directory (holding nf.yaml) or the object file. */
  root: string;
  cleanup(): void;
}

function scratch(workDir: string): string {
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  return mkdtempSync(join(workDir, "upload-"));
}

/** Unpacks a package archive; its nf.yaml may be at the top or in one directory below. */
export function unpackPackage(workDir: string, archive: Buffer): Upload {
  const dir = scratch(workDir);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const file = join(dir, "package.tar");
    writeFileSync(file, archive);
    const out = join(dir, "pkg");
    mkdirSync(out);
    try {
      // GNU tar detects gzip itself, refuses members with '..' and strips leading '/'.
      execFileSync("tar", ["-xf", file, "-C", out, "--no-same-owner", "--no-same-permissions"], {
        stdio: "pipe",
      });
    } catch (e) {
      const why = ((e as { stderr?: Buffer }).stderr?.toString() ?? "").trim().split("\n")[0];
      throw new ApiRequestError(`the upload is not a tar or tar.gz archive (${why || "tar failed"})`);
    }
    let root = out;
    if (!existsSync(join(root, "nf.yaml"))) {
      const dirs = readdirSync(root).filter((n) => statSync(join(root, n)).isDirectory());
      if (dirs.length === 1 && existsSync(join(root, dirs[0], "nf.yaml"))) root = join(root, dirs[0]);
      else
        throw new ApiRequestError(
          "the archive has no nf.yaml (at its top or in its one directory): it is not an NF package",
          422,
        );
    }
    return { root, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** Writes an uploaded object file. */
export function saveObject(workDir: string, data: Buffer): Upload {
  const dir = scratch(workDir);
  const root = join(dir, "object.o");
  writeFileSync(root, data);
  return { root, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
