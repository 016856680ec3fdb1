/** The instruction table, assembled from one module per instruction group. */
import { OpcodeTable } from '../table.js';
import { install as installAlu } from './alu.js';
import { install as installControl } from './control.js';
import { install as installData } from './data.js';
import { install as installSystem } from './system.js';

function buildTable(): OpcodeTable {
  const table = new OpcodeTable();
  installAlu(table);
  installData(table);
  installControl(table);
  installSystem(table);
  return table;
}

/** Built once: it is constant data, like Xen's hypercall table. */
export const opcodeTable: OpcodeTable = buildTable();
