// The LALR(1) automaton of libxlu's grammar (tools/libs/util/libxlu_cfg_y.y, Xen 4.17), worked
// out by hand with bison's conventions: a state with any reduction reduces by default (so a
// syntax error is noticed only in a state that has none) unless it can shift `error`.
import { Tok } from './lexer.js';

export const enum Nt {
  File,
  Stmts,
  Stmt,
  Assignment,
  Endstmt,
  Value,
  Atom,
  Valuelist,
  Values,
  Nlok,
}

export interface Rule {
  readonly lhs: Nt;
  readonly length: number;
}

export const RULES: readonly Rule[] = [
  /* 0 */ { lhs: Nt.File, length: 0 }, // unused ($accept)
  /* 1 */ { lhs: Nt.File, length: 1 },
  /* 2 */ { lhs: Nt.File, length: 2 },
  /* 3 */ { lhs: Nt.Stmts, length: 0 },
  /* 4 */ { lhs: Nt.Stmts, length: 2 },
  /* 5 */ { lhs: Nt.Stmt, length: 2 },
  /* 6 */ { lhs: Nt.Stmt, length: 1 },
  /* 7 */ { lhs: Nt.Stmt, length: 2 },
  /* 8 */ { lhs: Nt.Assignment, length: 3 },
  /* 9 */ { lhs: Nt.Assignment, length: 3 },
  /* 10 */ { lhs: Nt.Endstmt, length: 1 },
  /* 11 */ { lhs: Nt.Endstmt, length: 1 },
  /* 12 */ { lhs: Nt.Value, length: 1 },
  /* 13 */ { lhs: Nt.Value, length: 4 },
  /* 14 */ { lhs: Nt.Atom, length: 1 },
  /* 15 */ { lhs: Nt.Atom, length: 1 },
  /* 16 */ { lhs: Nt.Valuelist, length: 0 },
  /* 17 */ { lhs: Nt.Valuelist, length: 1 },
  /* 18 */ { lhs: Nt.Valuelist, length: 3 },
  /* 19 */ { lhs: Nt.Values, length: 2 },
  /* 20 */ { lhs: Nt.Values, length: 5 },
  /* 21 */ { lhs: Nt.Nlok, length: 0 },
  /* 22 */ { lhs: Nt.Nlok, length: 2 },
];

export interface State {
  /** Explicit actions: a state number to shift to. */
  readonly shift?: Partial<Record<Tok, number>>;
  /** Explicit reductions on one lookahead (only where bison keeps no default). */
  readonly reduceOn?: Partial<Record<Tok, number>>;
  /** bison's default reduction: taken on any lookahead without an explicit action. */
  readonly reduce?: number;
  readonly goto?: Partial<Record<Nt, number>>;
  readonly accept?: true;
}

const VALUE_SHIFTS = { [Tok.String]: 14, [Tok.Number]: 15, [Tok.LBracket]: 17 } as const;
export const MAX_DEPTH = 10000; // bison's YYMAXDEPTH

// State numbers are this file's own; the item sets are in the comments.
export const STATES: readonly State[] = [
  /* 0: $accept: . file $end */ { reduce: 3, goto: { [Nt.File]: 1, [Nt.Stmts]: 2 } },
  /* 1: $accept: file . $end */ { accept: true },
  /* 2: file: stmts . | stmts . assignment; stmts: stmts . stmt — it shifts `error`, so bison
        keeps no default reduction here and the $end reduction is an explicit one. */
  {
    shift: { [Tok.Ident]: 3, [Tok.Newline]: 7, [Tok.Semicolon]: 8, [Tok.Error]: 11 },
    reduceOn: { [Tok.End]: 1 },
    goto: { [Nt.Stmt]: 10, [Nt.Assignment]: 6, [Nt.Endstmt]: 9 },
  },
  /* 3: assignment: IDENT . '=' value | IDENT . "+=" value */
  { shift: { [Tok.Assign]: 4, [Tok.AddAssign]: 29 } },
  /* 4: assignment: IDENT '=' . value */
  { shift: VALUE_SHIFTS, goto: { [Nt.Value]: 5, [Nt.Atom]: 16 } },
  /* 5: assignment: IDENT '=' value . */ { reduce: 8 },
  /* 6: file: stmts assignment . ; stmt: assignment . endstmt */
  { shift: { [Tok.Newline]: 7, [Tok.Semicolon]: 8 }, reduce: 2, goto: { [Nt.Endstmt]: 13 } },
  /* 7: endstmt: NEWLINE . */ { reduce: 10 },
  /* 8: endstmt: ';' . */ { reduce: 11 },
  /* 9: stmt: endstmt . */ { reduce: 6 },
  /* 10: stmts: stmts stmt . */ { reduce: 4 },
  /* 11: stmt: error . NEWLINE */ { shift: { [Tok.Newline]: 12 } },
  /* 12: stmt: error NEWLINE . */ { reduce: 7 },
  /* 13: stmt: assignment endstmt . */ { reduce: 5 },
  /* 14: atom: STRING . */ { reduce: 14 },
  /* 15: atom: NUMBER . */ { reduce: 15 },
  /* 16: value: atom . */ { reduce: 12 },
  /* 17: value: '[' . nlok valuelist ']' */ { reduce: 21, goto: { [Nt.Nlok]: 18 } },
  /* 18: value: '[' nlok . valuelist ']'; nlok: nlok . NEWLINE */
  {
    shift: { ...VALUE_SHIFTS, [Tok.Newline]: 28 },
    reduce: 16,
    goto: { [Nt.Valuelist]: 19, [Nt.Values]: 21, [Nt.Value]: 22, [Nt.Atom]: 16 },
  },
  /* 19: value: '[' nlok valuelist . ']' */ { shift: { [Tok.RBracket]: 20 } },
  /* 20: value: '[' nlok valuelist ']' . */ { reduce: 13 },
  /* 21: valuelist: values . | values . ',' nlok; values: values . ',' nlok value nlok */
  { shift: { [Tok.Comma]: 24 }, reduce: 17 },
  /* 22: values: value . nlok */ { reduce: 21, goto: { [Nt.Nlok]: 23 } },
  /* 23: values: value nlok . ; nlok: nlok . NEWLINE */
  { shift: { [Tok.Newline]: 28 }, reduce: 19 },
  /* 24: valuelist: values ',' . nlok; values: values ',' . nlok value nlok */
  { reduce: 21, goto: { [Nt.Nlok]: 25 } },
  /* 25: valuelist: values ',' nlok . ; values: values ',' nlok . value nlok */
  {
    shift: { ...VALUE_SHIFTS, [Tok.Newline]: 28 },
    reduce: 18,
    goto: { [Nt.Value]: 26, [Nt.Atom]: 16 },
  },
  /* 26: values: values ',' nlok value . nlok */ { reduce: 21, goto: { [Nt.Nlok]: 27 } },
  /* 27: values: values ',' nlok value nlok . ; nlok: nlok . NEWLINE */
  { shift: { [Tok.Newline]: 28 }, reduce: 20 },
  /* 28: nlok: nlok NEWLINE . */ { reduce: 22 },
  /* 29: assignment: IDENT "+=" . value */
  { shift: VALUE_SHIFTS, goto: { [Nt.Value]: 30, [Nt.Atom]: 16 } },
  /* 30: assignment: IDENT "+=" value . */ { reduce: 9 },
];
