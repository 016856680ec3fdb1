// xl's command table (tools/xl/xl_cmdtable.c): every command of Xen 4.17's xl with its help
// texts, so `xl help` and abbreviated commands behave as there; the ones Xenotype implements
// carry an implementation.
import { XL_COMMANDS_A } from './cmdhelp-a.js';
import { XL_COMMANDS_B } from './cmdhelp-b.js';
import type { XlContext } from './io.js';

/** A command's entry in xl's table (struct cmd_spec without the function). */
export interface CmdHelp {
  readonly name: string;
  /** Accepts the global -N (dry run). */
  readonly canDryrun?: true;
  /** Changes state (the help's usage line then shows -f). */
  readonly modifies?: true;
  readonly desc: string;
  readonly usage: string;
  readonly option?: string;
}

/** main_<command>(argc, argv): `argv[0]` is the command name as typed. */
export type CmdImpl = (ctx: XlContext, argv: readonly string[]) => Promise<number>;

export interface CmdSpec extends CmdHelp {
  /** Absent: a command of xl that Xenotype does not provide yet. */
  readonly impl?: CmdImpl;
}

export const XL_COMMANDS: readonly CmdHelp[] = [...XL_COMMANDS_A, ...XL_COMMANDS_B];

export class CommandTable {
  readonly specs: readonly CmdSpec[];

  constructor(impls: Readonly<Record<string, CmdImpl>>) {
    this.specs = XL_COMMANDS.map((h) => {
      const impl = impls[h.name];
      return impl ? { ...h, impl } : h;
    });
  }

  /** cmdtable_lookup: an exact name, or a prefix of exactly one name. */
  lookup(s: string): CmdSpec | null {
    let found: CmdSpec | null = null;
    let count = 0;
    for (const spec of this.specs) {
      if (spec.name.startsWith(s)) {
        if (spec.name.length === s.length) return spec;
        found = spec;
        count++;
      }
    }
    return count === 1 ? found : null;
  }

  /** xl.c's help(): the full list, or one command's usage, on stdout. */
  help(command: string | null): string {
    if (command === null || command === 'help') {
      let out = 'Usage xl [-vfNtT] <subcommand> [args]\n\nxl full list of subcommands:\n\n';
      for (const spec of this.specs) {
        out += ` ${spec.name.padEnd(19)} `;
        if (spec.name.length > 19) out += `\n ${''.padEnd(19)} `;
        out += `${spec.desc}\n`;
      }
      return out;
    }
    const spec = this.lookup(command);
    if (!spec) return `command "${command}" not implemented\n`;
    let out = `Usage: xl [-vtT${spec.modifies ? 'f' : ''}${spec.canDryrun ? 'N' : ''}] ${spec.name} ${spec.usage}\n\n${spec.desc}.\n\n`;
    if (spec.option !== undefined) out += `Options:\n\n${spec.option}\n`;
    return out;
  }
}
