// Where the repository's files are, seen from the SDK's tests.

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const sdkDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const repoDir = join(sdkDir, "..");
export const protocolDir = join(repoDir, "testdata", "protocol");
export const meshBin = join(repoDir, "bin", "mesh");
