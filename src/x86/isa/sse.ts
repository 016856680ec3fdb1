/**
 * MMX, SSE, SSE2, SSE3 and SSSE3: the instruction families are in ../sse/ (moves, integer,
 * shuffle, float, convert, state), the IEEE arithmetic in ../sse/fp.ts.
 */
import { install as installConvert } from '../sse/convert.js';
import { install as installFloat } from '../sse/float.js';
import { install as installInteger } from '../sse/integer.js';
import { install as installMoves } from '../sse/moves.js';
import { install as installShuffle } from '../sse/shuffle.js';
import { install as installState } from '../sse/state.js';
import type { OpcodeTable } from '../table.js';

export function install(table: OpcodeTable): void {
  installMoves(table);
  installInteger(table);
  installShuffle(table);
  installFloat(table);
  installConvert(table);
  installState(table);
}
