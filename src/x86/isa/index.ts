/** The instruction table, assembled from one module per instruction group. */
import { OpcodeTable } from '../table.js';
import { install as installAlu } from './alu.js';
import { install as installAtomic } from './atomic.js';
import { install as installBcd } from './bcd.js';
import { install as installBits } from './bits.js';
import { install as installCond } from './cond.js';
import { install as installControl } from './control.js';
import { install as installData } from './data.js';
import { install as installDebugReg } from './debugreg.js';
import { install as installDescriptor } from './descriptor.js';
import { install as installFar } from './far.js';
import { install as installFlagOps } from './flagops.js';
import { install as installFrame } from './frame.js';
import { install as installHints } from './hints.js';
import { install as installIret } from './iret.js';
import { install as installMulDiv } from './muldiv.js';
import { install as installSegload } from './segload.js';
import { install as installShift } from './shift.js';
import { install as installSse } from './sse.js';
import { install as installString } from './string.js';
import { install as installSyscall } from './syscall.js';
import { install as installSystem } from './system.js';
import { install as installX87 } from './x87.js';

function buildTable(): OpcodeTable {
  const table = new OpcodeTable();
  for (const install of [
    installAlu,
    installMulDiv,
    installShift,
    installBits,
    installCond,
    installAtomic,
    installFlagOps,
    installBcd,
    installData,
    installControl,
    installFar,
    installIret,
    installSyscall,
    installFrame,
    installSegload,
    installDescriptor,
    installDebugReg,
    installHints,
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
