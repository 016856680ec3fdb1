/**
 * Compiled blocks (block.ts) are fast only when V8 inlines the instruction handlers into
 * them, and V8's default inlining budget is sized for ordinary applications. Raising it doubles
 * the interpreter's speed (bench: cpu.mips.integer). This must run before the hot code is
 * optimised; importing the CPU does it.
 *
 * The cumulative budget is a trade-off: a kernel runs thousands of warm blocks, and with a
 * large budget each costs V8 a long optimising compile (on a 2-core machine, more CPU than the
 * guest itself) and runs longer in unoptimised code meanwhile. 2500 (it was 20000) makes the
 * Debian boot ~1.6x faster and costs the tight integer loop about a third of its speed.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--max-inlined-bytecode-size=2000');
setFlagsFromString('--max-inlined-bytecode-size-cumulative=2500');
