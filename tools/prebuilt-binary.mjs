// What a prebuilt addon is, read from its bytes: the CPU its ELF header names and the Node ABI it
// registers for. NODE_MODULE_INIT exports `node_register_module_v<ABI>` (NODE_MODULE_VERSION of
// the headers it was compiled with), and Node looks up exactly that symbol when it loads the
// file, so a binary built against the wrong headers carries the wrong number here.

/** ELF e_machine values of the CPUs robust-shm ships for, by Node's arch name. */
export const ELF_MACHINE = { x64: 62, arm64: 183 };
const MACHINE_NAME = { 62: 'x64', 183: 'arm64' };

/** The parts of a node-gyp-build prebuild file name: `robust-shm.abi<N>.glibc.node`. */
export function parsePrebuildName(fileName) {
  const m = /^robust-shm\.abi(\d+)\.glibc\.node$/.exec(fileName);
  return m ? { abi: Number(m[1]) } : undefined;
}

/**
 * { machine: 'x64'|'arm64'|'e_machine <n>', abis: number[] } of an ELF shared object's bytes;
 * throws if it is not a 64-bit little-endian ELF file.
 */
export function describeBinary(bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const eMachine = buf.readUInt16LE(18);
  const abis = [...new Set([...buf.toString('latin1').matchAll(/node_register_module_v(\d+)/g)].map((m) => Number(m[1])))];
  return { machine: MACHINE_NAME[eMachine] ?? `e_machine ${eMachine}`, abis };
}
