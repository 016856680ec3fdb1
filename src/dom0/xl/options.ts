// xl's per-command option parsing (def_getopt and SWITCH_FOREACH_OPT in tools/xl/xl_utils.c):
// -h/--help prints the command's usage and exits 0, an unknown option exits 2 with
// "option `X' not supported.", too few operands exit 2 with the usage.
import { getoptLong, type LongOption } from './getopt.js';
import { type XlContext, XlExit } from './io.js';

/** COMMON_LONG_OPTS: every command knows --help. */
export const HELP_OPTION: LongOption = { name: 'help', hasArg: 'none', val: 'h' };

/** A long option without argument. */
export const flag = (name: string, val: string): LongOption => ({ name, hasArg: 'none', val });
/** A long option with a required argument. */
export const withArg = (name: string, val: string): LongOption => ({
  name,
  hasArg: 'required',
  val,
});

/**
 * Parses `argv` (argv[0] is the command) with `opts` (to which "h" is prepended) and hands each
 * option to `handle` in order, as the switch in SWITCH_FOREACH_OPT sees them; `handle` may throw
 * XlExit. Returns the operands.
 */
export function switchForeachOpt(
  ctx: XlContext,
  argv: readonly string[],
  opts: string,
  longopts: readonly LongOption[] | null,
  command: string,
  required: number,
  handle: (opt: string, arg: string | null) => void = () => {},
): string[] {
  const { items, operands } = getoptLong(argv[0] ?? 'xl', argv.slice(1), `h${opts}`, [
    ...(longopts ?? []),
    HELP_OPTION,
  ]);
  for (const item of items) {
    if (item.kind === 'error') {
      if (item.optopt === 'h') usageExit(ctx, command, 0);
      ctx.err(`option \`${item.optopt}' not supported.\n`);
      throw new XlExit(2);
    }
    if (item.opt === 'h') usageExit(ctx, command, 0);
    handle(item.opt, item.arg);
  }
  if (operands.length < required) {
    ctx.err(
      `'xl ${command}' requires at least ${required} argument${required > 1 ? 's' : ''}.\n\n`,
    );
    usageExit(ctx, command, 2);
  }
  return [...operands];
}

function usageExit(ctx: XlContext, command: string, code: number): never {
  ctx.help(command);
  throw new XlExit(code);
}
