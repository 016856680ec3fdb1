/**
 * Compiled blocks (block.ts) are fast only when V8 inlines the instruction handlers into
 * them, and V8's default inlining budget is sized for ordinary applications. Raising it doubles
 * the interpreter's speed (bench: cpu.mips.integer). This must run before the hot code is
 * optimised; importing the CPU does it.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--max-inlined-bytecode-size=2000');
setFlagsFromString('--max-inlined-bytecode-size-cumulative=20000');
