import type { OpcodeTable } from '../table.js';

export function install(_table: OpcodeTable): void {}
