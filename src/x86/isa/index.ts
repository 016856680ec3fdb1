/** The instruction table, assembled from one module per instruction group. */
import { OpcodeTable } from '../table.js';
import { install as installAlu } from './alu.js';
import { install as installArith } from './arith.js';
import { install as installControl } from './control.js';
import { install as installData } from './data.js';
import { install as installFar } from './far.js';
import { install as installSse } from './sse.js';
import { install as installString } from './string.js';
import { install as installSystem } from './system.js';
import { install as installX87 } from './x87.js';

function buildTable(): OpcodeTable {
  const table = new OpcodeTable();
  for (const install of [
    installAlu,
    installArith,
    installData,
    installControl,
    installFar,
    installString,
    installSystem,
    installX87,
    installSse,
  ]) {
    install(table);
  }
  return table;
}

/** Built once: it is constant data, like Xen's hypercall table. */
export const opcodeTable: OpcodeTable = buildTable();
