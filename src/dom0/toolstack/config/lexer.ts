// The xl.cfg tokenizer, as libxlu's flex scanner (tools/libs/util/libxlu_cfg_l.l in Xen 4.17)
// behaves: longest match with the earlier rule winning ties, a `lexerr` start state entered by
// any unexpected character, `yymore()` text carried into the error message, and yylineno
// counted the way flex counts it. The text is a "byte string": one char per input byte (latin1),
// so that byte-level behaviour (NULs, 8-bit garbage) is exact; values are decoded later.
import { dequote } from './dequote.js';

/** Token kinds, in bison's token-number order (the order "expecting …" lists use). */
export const enum Tok {
  End = 0,
  Error = 1,
  Ident = 3,
  String = 4,
  Number = 5,
  Newline = 6,
  AddAssign = 7,
  Assign = 8,
  Semicolon = 9,
  LBracket = 10,
  RBracket = 11,
  Comma = 12,
}

/** bison's yytname for each terminal, after yytnamerr strips the quotes of "+=". */
export const TOKEN_NAMES: Readonly<Record<number, string>> = {
  [Tok.End]: '$end',
  [Tok.Error]: 'error',
  [Tok.Ident]: 'IDENT',
  [Tok.String]: 'STRING',
  [Tok.Number]: 'NUMBER',
  [Tok.Newline]: 'NEWLINE',
  [Tok.AddAssign]: '+=',
  [Tok.Assign]: "'='",
  [Tok.Semicolon]: "';'",
  [Tok.LBracket]: "'['",
  [Tok.RBracket]: "']'",
  [Tok.Comma]: "','",
};

export interface Token {
  readonly kind: Tok;
  /** yytext when this token was returned (at end of input: the pending yymore text + NUL). */
  readonly text: string;
  /** yylloc.first_line as the scanner set it (stale at end of input, as in flex). */
  readonly line: number;
  /** IDENT and NUMBER: the atom; STRING: the dequoted value (partial after an escape error). */
  readonly value: string;
}

/** Where the scanner reports lexical errors: libxlu's xlu__cfgl_lexicalerror. */
export interface LexReporter {
  lexicalError(line: number, text: string, message: string): void;
  /** A character of `+-.():` was seen: libxlu then warns the file looks like Python. */
  likelyPython(): void;
  /** ctx->err is set: libxlu's dequote then does nothing (and so reports nothing). */
  readonly failed: boolean;
}

const isLower = (c: string): boolean => c >= 'a' && c <= 'z';
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isIdentChar = (c: string): boolean => isLower(c) || isDigit(c) || c === '.' || c === '_';
const isNumberChar = (c: string): boolean => isDigit(c) || (c >= 'a' && c <= 'f') || c === 'x';

export class Lexer {
  private pos = 0;
  /** flex's yylineno. */
  private lineno = 1;
  /** yylloc.first_line: only GOT() updates it, so end of input keeps the last token's line. */
  private lastLine = 0;
  /** Text kept by yymore() while in the lexerr state. */
  private more = '';
  private inLexerr = false;

  constructor(
    private readonly src: string,
    private readonly report: LexReporter,
  ) {}

  /** yytext: the text of the token last returned. */
  private yytext = '';

  /** The scanner's current line (yylineno), as lexical errors found by actions use it. */
  get line(): number {
    return this.lineno;
  }

  /** The text of the token last returned (flex's yytext). */
  get text(): string {
    return this.yytext;
  }

  next(): Token {
    const tok = this.scan();
    this.yytext = tok.text;
    return tok;
  }

  private scan(): Token {
    const s = this.src;
    for (;;) {
      if (this.pos >= s.length) {
        // <<EOF>> in either state: yytext is the pending yymore text followed by the NUL.
        return { kind: Tok.End, text: `${this.more}\0`, line: this.lastLine, value: '' };
      }
      if (this.inLexerr) {
        const tok = this.lexerrRule();
        if (tok) return tok;
        continue;
      }
      const c = s[this.pos]!;
      if (isLower(c)) return this.run(Tok.Ident, isIdentChar);
      if (isDigit(c)) return this.run(Tok.Number, isNumberChar);
      switch (c) {
        case ' ':
        case '\t':
          this.pos++;
          continue;
        case ',':
          return this.single(Tok.Comma);
        case '[':
          return this.single(Tok.LBracket);
        case ']':
          return this.single(Tok.RBracket);
        case '=':
          return this.single(Tok.Assign);
        case ';':
          return this.single(Tok.Semicolon);
        case '\n':
          return this.newline(1);
        case '+':
          if (s[this.pos + 1] === '=') {
            this.pos += 2;
            return this.got(Tok.AddAssign, '+=', '+=');
          }
          break;
        case '#': {
          // `\#.*\n`: a comment is a NEWLINE token, but only when a newline ends it.
          const nl = s.indexOf('\n', this.pos);
          if (nl >= 0) return this.newline(nl + 1 - this.pos);
          break;
        }
        case "'":
        case '"': {
          const end = this.quotedEnd(c);
          if (end > 0) return this.quoted(end);
          break;
        }
      }
      // `[+-.():]` (a range: + , - .; ',' already matched) sets likely_python; `.` catches the rest.
      if ('+-.():'.includes(c)) this.report.likelyPython();
      this.more = c;
      this.pos++;
      this.inLexerr = true;
    }
  }

  private got(kind: Tok, text: string, value: string): Token {
    this.lastLine = this.lineno;
    return { kind, text, line: this.lineno, value };
  }

  private single(kind: Tok): Token {
    const c = this.src[this.pos]!;
    this.pos++;
    return this.got(kind, c, c);
  }

  private run(kind: Tok, more: (c: string) => boolean): Token {
    const start = this.pos;
    this.pos++;
    while (this.pos < this.src.length && more(this.src[this.pos]!)) this.pos++;
    const text = this.src.slice(start, this.pos);
    return this.got(kind, text, text);
  }

  /** `\n|\#.*\n`: yylloc.first_line is set to yylineno-1, the line the newline ends. */
  private newline(length: number): Token {
    const text = this.src.slice(this.pos, this.pos + length);
    this.pos += length;
    this.lineno++;
    this.lastLine = this.lineno - 1;
    return { kind: Tok.Newline, text, line: this.lineno - 1, value: '' };
  }

  /** Index just past the closing quote of `'([^'\\\n]|\\.)*'` (or "…"), or -1 if none matches. */
  private quotedEnd(quote: string): number {
    const s = this.src;
    let i = this.pos + 1;
    while (i < s.length) {
      const c = s[i]!;
      if (c === quote) return i + 1;
      if (c === '\n') return -1;
      if (c === '\\') {
        if (i + 1 >= s.length || s[i + 1] === '\n') return -1;
        i += 2;
      } else {
        i++;
      }
    }
    return -1;
  }

  private quoted(end: number): Token {
    const text = this.src.slice(this.pos, end);
    this.pos = end;
    if (this.report.failed) return this.got(Tok.String, text, '');
    const { value, error } = dequote(text);
    // The action runs before GOT(), at the token's own line.
    if (error) this.report.lexicalError(this.lineno, text, error);
    return this.got(Tok.String, text, value);
  }

  /** The lexerr state: `[^ \t\n]*|[ \t]` reports and goes back; `\n` reports and is a NEWLINE. */
  private lexerrRule(): Token | null {
    const s = this.src;
    const c = s[this.pos]!;
    this.inLexerr = false;
    const prefix = this.more;
    this.more = '';
    if (c === '\n') {
      this.pos++;
      this.lineno++;
      const text = `${prefix}\n`;
      this.report.lexicalError(this.lineno, text, 'lexical error');
      this.lastLine = this.lineno;
      return { kind: Tok.Newline, text, line: this.lineno, value: '' };
    }
    let end = this.pos + 1;
    if (c !== ' ' && c !== '\t') {
      while (end < s.length && s[end] !== ' ' && s[end] !== '\t' && s[end] !== '\n') end++;
    }
    const text = prefix + s.slice(this.pos, end);
    this.pos = end;
    this.report.lexicalError(this.lineno, text, 'lexical error');
    return null;
  }
}
