// The xl.cfg grammar (tools/libs/util/libxlu_cfg_y.y in Xen 4.17) run as the LALR automaton bison
// builds for it, so that what an operator sees on a bad file is what xl prints: the same
// "syntax error, unexpected X, expecting Y" texts (bison's default reductions decide which state
// reports), the same error recovery (skip to the next newline, stay quiet until three tokens
// have been shifted) and the same 10000-entry stack limit ("memory exhausted").
//
//   file: stmts | stmts assignment          assignment: IDENT '=' value | IDENT "+=" value
//   stmts: /*empty*/ | stmts stmt           endstmt: NEWLINE | ';'
//   stmt: assignment endstmt | endstmt | error NEWLINE
//   value: atom | '[' nlok valuelist ']'    atom: STRING | NUMBER
//   valuelist: /*empty*/ | values | values ',' nlok
//   values: value nlok | values ',' nlok value nlok        nlok: /*empty*/ | nlok NEWLINE
import { MAX_DEPTH, RULES, STATES, type State } from './grammar.js';
import { type Lexer, TOKEN_NAMES, Tok, type Token } from './lexer.js';

export type CfgValue =
  | { readonly kind: 'string'; readonly value: string; readonly line: number }
  | { readonly kind: 'list'; readonly values: readonly CfgValue[]; readonly line: number };

export interface CfgSetting {
  readonly name: string;
  readonly op: '=' | '+=';
  readonly value: CfgValue;
  /** The line of the value's first token (libxlu's set->lineno). */
  readonly line: number;
}

/** What the grammar actions and the error reporter need: libxlu's CfgParseContext. */
export interface ParseContext {
  /** yyerror: a message at `line` near `text` (suppressed on a line that had a lexical error). */
  error(line: number, text: string, message: string): void;
  /** xlu__cfgl_lexicalerror at the scanner's current position. */
  lexicalError(message: string): void;
  /** ctx->err is set: the grammar actions stop storing settings. */
  readonly failed: boolean;
  store(setting: CfgSetting): void;
  find(name: string): CfgSetting | undefined;
}

/** A semantic value on the parser stack. */
type Sem = Token | CfgValue | CfgValue[] | null;

interface Entry {
  readonly state: number;
  readonly sem: Sem;
  readonly line: number;
}

class StackExhausted extends Error {}

/** Runs the parser over the lexer's tokens; false when bison's yyparse would return non-zero. */
export function parseTokens(lexer: Lexer, ctx: ParseContext): boolean {
  const stack: Entry[] = [];
  let lookahead: Token | null = null;
  const seen: { last: Token | null } = { last: null };
  let errstatus = 0;

  const push = (state: number, sem: Sem, line: number): void => {
    stack.push({ state, sem, line });
    if (stack.length >= MAX_DEPTH) throw new StackExhausted();
  };
  const read = (): Token => {
    const tok = lexer.next();
    seen.last = tok;
    return tok;
  };

  try {
    push(0, null, 0);
    for (;;) {
      const st = STATES[stack[stack.length - 1]!.state]!;
      if (!st.shift && !st.reduceOn && !st.accept) {
        // A consistent state: bison reduces without reading a lookahead.
        reduce(stack, st.reduce!, ctx, push);
        continue;
      }
      lookahead ??= read();
      const target = st.shift?.[lookahead.kind];
      if (target !== undefined) {
        if (errstatus > 0) errstatus--;
        push(target, lookahead, lookahead.line);
        lookahead = null;
        continue;
      }
      if (st.accept && lookahead.kind === Tok.End) return true;
      const rule = st.reduceOn?.[lookahead.kind] ?? st.reduce;
      if (rule !== undefined) {
        reduce(stack, rule, ctx, push);
        continue;
      }
      // A syntax error: report (unless recovering), then bison's yyerrlab/yyerrlab1.
      if (errstatus === 0) ctx.error(lookahead.line, lookahead.text, syntaxError(st, lookahead));
      if (errstatus === 3) {
        if (lookahead.kind === Tok.End) return false;
        lookahead = null;
      }
      errstatus = 3;
      for (;;) {
        const top = STATES[stack[stack.length - 1]!.state]!;
        const errTarget = top.shift?.[Tok.Error];
        if (errTarget !== undefined) {
          push(errTarget, null, 0);
          break;
        }
        if (stack.length === 1) return false;
        stack.pop();
      }
    }
  } catch (e) {
    if (!(e instanceof StackExhausted)) throw e;
    ctx.error(seen.last?.line ?? 0, seen.last?.text ?? '', 'memory exhausted');
    return false;
  }
}

/** bison's verbose message: the unexpected token and, if at most four, the expected ones. */
function syntaxError(st: State, tok: Token): string {
  const expected: number[] = [];
  for (const k of Object.keys(st.shift ?? {})) expected.push(Number(k));
  for (const k of Object.keys(st.reduceOn ?? {})) expected.push(Number(k));
  if (st.accept) expected.push(Tok.End);
  const names = expected
    .filter((t) => t !== Tok.Error)
    .sort((a, b) => a - b)
    .map((t) => TOKEN_NAMES[t]);
  let msg = `syntax error, unexpected ${TOKEN_NAMES[tok.kind]}`;
  if (names.length > 0 && names.length <= 4) msg += `, expecting ${names.join(' or ')}`;
  return msg;
}

function reduce(
  stack: Entry[],
  ruleNo: number,
  ctx: ParseContext,
  push: (state: number, sem: Sem, line: number) => void,
): void {
  const rule = RULES[ruleNo]!;
  const rhs = stack.splice(stack.length - rule.length, rule.length);
  // YYLLOC_DEFAULT: the first symbol's line; an empty rule takes the previous symbol's.
  const line = rhs[0]?.line ?? stack[stack.length - 1]!.line;
  const sem = action(ruleNo, rhs, line, ctx);
  const below = STATES[stack[stack.length - 1]!.state]!;
  push(below.goto![rule.lhs]!, sem, line);
}

/** The grammar actions; they build nothing once ctx->err is set, as libxlu's helpers do. */
function action(ruleNo: number, rhs: Entry[], line: number, ctx: ParseContext): Sem {
  if (ctx.failed) return null;
  const sem = (i: number): Sem => rhs[i]!.sem;
  switch (ruleNo) {
    case 8:
    case 9:
      store(ctx, (sem(0) as Token).value, ruleNo === 8 ? '=' : '+=', sem(2) as CfgValue);
      return null;
    case 12:
      return sem(0);
    case 13:
      return listValue(sem(2) as CfgValue[], line);
    case 14:
    case 15:
      return { kind: 'string', value: (sem(0) as Token).value, line };
    case 16:
      return [];
    case 17:
    case 18:
      return sem(0);
    case 19:
      return [sem(0) as CfgValue];
    case 20: {
      const list = sem(0) as CfgValue[];
      list.push(sem(3) as CfgValue);
      return list;
    }
    default:
      return null;
  }
}

function listValue(values: CfgValue[], line: number): CfgValue {
  return { kind: 'list', values, line };
}

/** xlu__cfg_set_store: `+=` concatenates with the latest setting of the same name. */
function store(ctx: ParseContext, name: string, op: '=' | '+=', value: CfgValue): void {
  let stored = value;
  const prev = op === '+=' ? ctx.find(name) : undefined;
  if (prev) {
    if (prev.value.kind !== value.kind) {
      ctx.lexicalError('can\'t add [list] to "string" or vice versa');
      return;
    }
    stored =
      prev.value.kind === 'string' && value.kind === 'string'
        ? { kind: 'string', value: prev.value.value + value.value, line: value.line }
        : {
            kind: 'list',
            values: [...listItems(prev.value), ...listItems(value)],
            line: value.line,
          };
  }
  ctx.store({ name, op, value: stored, line: value.line });
}

function listItems(v: CfgValue): readonly CfgValue[] {
  return v.kind === 'list' ? v.values : [];
}
