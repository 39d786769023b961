//! A hand-written lexer and recursive-descent parser for `.most` stable signatures.
//!
//! This module owns the text format: it turns the three signature versions into a
//! [`Signature`] and reports every malformed input as `CompatError::Motoko { line, column,
//! cause }`, never panicking. Grammar (moc's `parse_stab_sig`, restricted to what stable
//! signatures contain):
//!
//! ```text
//! sig      ::= dec* ( 'actor' '{' stab;* '}'                                 -- 1.0.0
//!               | 'actor' '(' '{' pre;* '}' ',' '{' stab;* '}' ')'          -- 3.0.0
//!               | '{' (TEXT ':' typ);* '}' 'actor' '{' stab;* '}' ) ';'?    -- 4.0.0
//! dec      ::= 'type' ID ('<' ID (<: typ)?,* '>')? '=' typ ';'?
//! stab     ::= 'stable' 'var'? ID ':' typ
//! pre      ::= ('stable' | 'in') 'var'? ID ':' typ
//! typ      ::= sort? ('<' binds '>')? typ_un '->' typ | typ_pre
//! sort     ::= 'shared' ('composite'? 'query')? | 'composite'? 'query'
//! typ_pre  ::= 'async' typ_pre | 'async*' typ_pre | ('actor'|'object'|'module') obj | typ_un
//! typ_un   ::= '?' typ_un | 'weak' typ_un | nullary
//! nullary  ::= '(' ((ID ':')? typ),* ')' | ID ('<' typ,* '>')? | '[' 'var'? typ ']'
//!            | '{' ('var'? ID ':' typ);* '}' | '{#}' | '{' ('#' ID (':' typ)?);+ '}'
//! ```
//!
//! Comments (`//`, nested `/* */`) are skipped; the `// Version: x.y.z` comment is recorded.
//! Type names resolve to the enclosing definition's parameters, then to the signature's own
//! `type` definitions, then to the primitive types, `Any` and `None`.

use std::collections::{BTreeMap, HashMap};

use super::types::{
    AsyncSort, Control, Field, FuncSort, Migration, ObjSort, Prim, Signature, StabSig, StableField,
    Type, TypeDef,
};
use crate::CompatError;

const MAX_DEPTH: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Id(String),
    Text(String),
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
    col: usize,
}

fn err(line: usize, column: usize, cause: impl Into<String>) -> CompatError {
    CompatError::Motoko {
        line,
        column,
        cause: cause.into(),
    }
}

const SYMS: [&str; 17] = [
    "->", "<:", "{", "}", "(", ")", "[", "]", "<", ">", ";", ",", ":", "=", "?", "#", ".",
];

fn lex(src: &str) -> Result<(Vec<Token>, Option<String>), CompatError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut version = None;
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let adv = |i: &mut usize, line: &mut usize, col: &mut usize, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            adv(&mut i, &mut line, &mut col, c);
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            let start = i;
            while i < chars.len() && chars[i] != '\n' {
                {
                    let ch = chars[i];
                    adv(&mut i, &mut line, &mut col, ch);
                }
            }
            let text: String = chars[start + 2..i].iter().collect();
            if let Some(v) = text.trim().strip_prefix("Version:") {
                if version.is_none() {
                    version = Some(v.trim().to_string());
                }
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            let (l0, c0) = (line, col);
            let mut depth = 0usize;
            loop {
                if i >= chars.len() {
                    return Err(err(l0, c0, "unclosed comment"));
                }
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    adv(&mut i, &mut line, &mut col, '/');
                    adv(&mut i, &mut line, &mut col, '*');
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    adv(&mut i, &mut line, &mut col, '*');
                    adv(&mut i, &mut line, &mut col, '/');
                    if depth == 0 {
                        break;
                    }
                } else {
                    {
                        let ch = chars[i];
                        adv(&mut i, &mut line, &mut col, ch);
                    }
                }
            }
            continue;
        }
        let (l0, c0) = (line, col);
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                {
                    let ch = chars[i];
                    adv(&mut i, &mut line, &mut col, ch);
                }
            }
            let mut id: String = chars[start..i].iter().collect();
            if id == "async" && chars.get(i) == Some(&'*') {
                adv(&mut i, &mut line, &mut col, '*');
                id.push('*');
            }
            toks.push(Token {
                tok: Tok::Id(id),
                line: l0,
                col: c0,
            });
            continue;
        }
        if c == '"' {
            adv(&mut i, &mut line, &mut col, c);
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(l0, c0, "unclosed text literal")),
                    Some('"') => {
                        adv(&mut i, &mut line, &mut col, '"');
                        break;
                    }
                    Some('\\') => {
                        adv(&mut i, &mut line, &mut col, '\\');
                        let Some(&e) = chars.get(i) else {
                            return Err(err(l0, c0, "unclosed text literal"));
                        };
                        adv(&mut i, &mut line, &mut col, e);
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                    }
                    Some(&ch) => {
                        adv(&mut i, &mut line, &mut col, ch);
                        s.push(ch);
                    }
                }
            }
            toks.push(Token {
                tok: Tok::Text(s),
                line: l0,
                col: c0,
            });
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let Some(sym) = SYMS.iter().find(|s| rest.starts_with(**s)) else {
            return Err(err(l0, c0, format!("unexpected character {c:?}")));
        };
        for ch in sym.chars() {
            adv(&mut i, &mut line, &mut col, ch);
        }
        toks.push(Token {
            tok: Tok::Sym(sym),
            line: l0,
            col: c0,
        });
    }
    toks.push(Token {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok((toks, version))
}

const KEYWORDS: [&str; 14] = [
    "type",
    "actor",
    "stable",
    "var",
    "in",
    "shared",
    "query",
    "composite",
    "async",
    "async*",
    "object",
    "module",
    "weak",
    "func",
];

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Names of the signature's `type` definitions (known before their bodies are parsed).
    defs: HashMap<String, usize>,
    /// Parameters of the definition being parsed.
    params: Vec<String>,
    /// Binders of enclosing generic function types: (source name, canonical name).
    binders: Vec<(String, String)>,
    depth: usize,
    /// Uses of definitions, checked for arity at the end: (name, arity, line, col).
    uses: Vec<(String, usize, usize, usize)>,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.pos + k).min(self.toks.len() - 1)].tok
    }

    fn here(&self) -> (usize, usize) {
        let t = &self.toks[self.pos];
        (t.line, t.col)
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn fail<T>(&self, what: &str) -> Result<T, CompatError> {
        let (l, c) = self.here();
        let found = match self.peek() {
            Tok::Id(s) => format!("`{s}`"),
            Tok::Text(s) => format!("text {s:?}"),
            Tok::Sym(s) => format!("`{s}`"),
            Tok::Eof => "end of input".to_string(),
        };
        Err(err(l, c, format!("expected {what}, found {found}")))
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Id(x) if x == k)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        if self.is_kw(k) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), CompatError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            self.fail(&format!("`{s}`"))
        }
    }

    fn expect_kw(&mut self, k: &str) -> Result<(), CompatError> {
        if self.eat_kw(k) {
            Ok(())
        } else {
            self.fail(&format!("`{k}`"))
        }
    }

    fn ident(&mut self) -> Result<String, CompatError> {
        match self.peek() {
            Tok::Id(s) if !KEYWORDS.contains(&s.as_str()) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => self.fail("an identifier"),
        }
    }

    fn enter(&mut self) -> Result<(), CompatError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let (l, c) = self.here();
            return Err(err(l, c, "types nested too deeply"));
        }
        Ok(())
    }

    // ---- signatures ----------------------------------------------------------------------

    fn signature(&mut self) -> Result<(BTreeMap<String, TypeDef>, StabSig), CompatError> {
        let mut defs = BTreeMap::new();
        let mut defined_at = HashMap::new();
        while self.is_kw("type") {
            let (l, c) = self.here();
            self.bump();
            let name = self.ident()?;
            let mut params = Vec::new();
            if self.eat_sym("<") {
                if !self.is_sym(">") {
                    loop {
                        params.push(self.ident()?);
                        if self.eat_sym("<:") {
                            // bounds of definition parameters do not matter for expansion
                            self.params = params.clone();
                            self.typ()?;
                        }
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                }
                self.expect_sym(">")?;
            }
            self.expect_sym("=")?;
            self.params = params;
            let body = self.typ()?;
            let params = std::mem::take(&mut self.params).len();
            if defs
                .insert(name.clone(), TypeDef { params, body })
                .is_some()
            {
                return Err(err(l, c, format!("type `{name}` is defined twice")));
            }
            defined_at.insert(name, (l, c));
            self.eat_sym(";");
        }
        let sig = if self.is_sym("{") {
            self.bump();
            let mut migs: Vec<Migration> = Vec::new();
            while !self.is_sym("}") {
                let (l, c) = self.here();
                let label = match self.bump() {
                    Tok::Text(s) => s,
                    _ => {
                        self.pos -= 1;
                        return self.fail("a migration label (a text literal) or `}`");
                    }
                };
                self.expect_sym(":")?;
                let (tl, tc) = self.here();
                let t = self.typ()?;
                let Type::Func(FuncSort::Local, Control::Returns, _, args, rets) = t else {
                    return Err(err(
                        tl,
                        tc,
                        "expected a migration function type `{..} -> {..}`",
                    ));
                };
                let record = |ts: Vec<Type>| -> Option<Vec<Field>> {
                    match <[Type; 1]>::try_from(ts) {
                        Ok([Type::Obj(ObjSort::Object, fs)]) => Some(fs),
                        Ok([Type::Con(n, a)]) => match defs.get(&n) {
                            Some(TypeDef {
                                body: Type::Obj(ObjSort::Object, fs),
                                ..
                            }) => match Type::Obj(ObjSort::Object, fs.clone()).subst(&a) {
                                Type::Obj(_, fs) => Some(fs),
                                _ => None,
                            },
                            _ => None,
                        },
                        _ => None,
                    }
                };
                let (Some(dom), Some(cod)) = (record(args), record(rets)) else {
                    return Err(err(
                        tl,
                        tc,
                        "a migration function must map a record to a record",
                    ));
                };
                if migs.iter().any(|m| m.label == label) {
                    return Err(err(l, c, format!("migration {label:?} appears twice")));
                }
                migs.push(Migration { label, dom, cod });
                if !self.eat_sym(";") {
                    break;
                }
            }
            self.expect_sym("}")?;
            migs.sort_by(|a, b| a.label.cmp(&b.label));
            self.expect_kw("actor")?;
            StabSig::Multi(migs, self.stab_fields(false)?)
        } else {
            self.expect_kw("actor")?;
            if self.eat_sym("(") {
                let pre = self.stab_fields(true)?;
                self.expect_sym(",")?;
                let post = self.stab_fields(false)?;
                self.expect_sym(")")?;
                StabSig::PrePost(pre, post)
            } else {
                StabSig::Single(self.stab_fields(false)?)
            }
        };
        self.eat_sym(";");
        if *self.peek() != Tok::Eof {
            return self.fail("end of input");
        }
        for (name, arity, l, c) in &self.uses {
            if let Some(d) = defs.get(name) {
                if d.params != *arity {
                    return Err(err(
                        *l,
                        *c,
                        format!(
                            "type `{name}` takes {} argument(s), {arity} given",
                            d.params
                        ),
                    ));
                }
            }
        }
        if let Err((name, why)) = super::wellformed::check(&defs) {
            let (l, c) = defined_at.get(&name).copied().unwrap_or((1, 1));
            return Err(err(l, c, why));
        }
        Ok((defs, sig))
    }

    fn stab_fields(&mut self, pre: bool) -> Result<Vec<StableField>, CompatError> {
        self.expect_sym("{")?;
        let mut out: Vec<StableField> = Vec::new();
        while !self.is_sym("}") {
            let (l, c) = self.here();
            let required = if self.eat_kw("stable") {
                false
            } else if pre && self.eat_kw("in") {
                true
            } else {
                return self.fail(if pre {
                    "`stable`, `in` or `}`"
                } else {
                    "`stable` or `}`"
                });
            };
            let mutable = self.eat_kw("var");
            let name = self.ident()?;
            self.expect_sym(":")?;
            let typ = self.typ()?;
            if out.iter().any(|f| f.name == name) {
                return Err(err(
                    l,
                    c,
                    format!("stable variable `{name}` declared twice"),
                ));
            }
            out.push(StableField {
                name,
                mutable,
                required,
                typ,
            });
            if !self.eat_sym(";") {
                break;
            }
        }
        self.expect_sym("}")?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    // ---- types ---------------------------------------------------------------------------

    fn typ(&mut self) -> Result<Type, CompatError> {
        self.enter()?;
        let t = self.typ_nobin()?;
        if self.is_kw("and") || self.is_kw("or") {
            return self.fail(
                "`;`, `,` or a closing bracket (type operators `and`/`or` are not supported)",
            );
        }
        self.depth -= 1;
        Ok(t)
    }

    fn typ_nobin(&mut self) -> Result<Type, CompatError> {
        let sort = if self.eat_kw("shared") {
            if self.eat_kw("composite") {
                self.expect_kw("query")?;
                Some(FuncSort::Composite)
            } else if self.eat_kw("query") {
                Some(FuncSort::Query)
            } else {
                Some(FuncSort::Write)
            }
        } else if self.is_kw("composite") {
            self.bump();
            self.expect_kw("query")?;
            Some(FuncSort::Composite)
        } else if self.eat_kw("query") {
            Some(FuncSort::Query)
        } else {
            None
        };
        if sort.is_some() || self.is_sym("<") {
            let nb = self.binders.len();
            let mut bounds = Vec::new();
            if self.eat_sym("<") {
                if !self.is_sym(">") {
                    loop {
                        let name = if self.eat_kw("system") {
                            "system".to_string()
                        } else {
                            self.ident()?
                        };
                        let canon = format!("${}", self.binders.len());
                        self.binders.push((name, canon));
                        bounds.push(if self.eat_sym("<:") {
                            self.typ()?
                        } else {
                            Type::Any
                        });
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                }
                self.expect_sym(">")?;
            }
            let dom = self.typ_un()?;
            self.expect_sym("->")?;
            let cod = self.typ_nobin()?;
            self.binders.truncate(nb);
            return Ok(func(sort.unwrap_or(FuncSort::Local), bounds, dom, cod));
        }
        let plain_un = !(self.is_kw("async")
            || self.is_kw("async*")
            || self.is_kw("actor")
            || self.is_kw("object")
            || self.is_kw("module"));
        let t = self.typ_pre()?;
        if plain_un && self.eat_sym("->") {
            let cod = self.typ_nobin()?;
            return Ok(func(FuncSort::Local, Vec::new(), t, cod));
        }
        Ok(t)
    }

    fn typ_pre(&mut self) -> Result<Type, CompatError> {
        self.enter()?;
        let t = if self.eat_kw("async") {
            Type::Async(AsyncSort::Fut, Box::new(self.typ_pre()?))
        } else if self.eat_kw("async*") {
            Type::Async(AsyncSort::Cmp, Box::new(self.typ_pre()?))
        } else if self.eat_kw("actor") {
            Type::Obj(ObjSort::Actor, self.obj_fields()?)
        } else if self.eat_kw("object") {
            Type::Obj(ObjSort::Object, self.obj_fields()?)
        } else if self.eat_kw("module") {
            Type::Obj(ObjSort::Module, self.obj_fields()?)
        } else {
            self.typ_un()?
        };
        self.depth -= 1;
        Ok(t)
    }

    fn typ_un(&mut self) -> Result<Type, CompatError> {
        self.enter()?;
        let t = if self.eat_sym("?") {
            Type::Opt(Box::new(self.typ_un()?))
        } else if self.eat_kw("weak") {
            Type::Weak(Box::new(self.typ_un()?))
        } else {
            self.typ_nullary()?
        };
        self.depth -= 1;
        Ok(t)
    }

    fn typ_nullary(&mut self) -> Result<Type, CompatError> {
        if self.eat_sym("(") {
            let mut items = Vec::new();
            while !self.is_sym(")") {
                let named = matches!(self.peek(), Tok::Id(s) if !KEYWORDS.contains(&s.as_str()))
                    && *self.peek_at(1) == Tok::Sym(":");
                if named {
                    self.bump();
                    self.bump();
                }
                items.push(self.typ()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
            // `(T)` is T and `(x : T)` a named T (transparent); anything else is a tuple.
            return Ok(if items.len() == 1 {
                items.pop().unwrap_or(Type::Tup(Vec::new()))
            } else {
                Type::Tup(items)
            });
        }
        if self.eat_sym("[") {
            let m = self.eat_kw("var");
            let t = self.typ()?;
            self.expect_sym("]")?;
            return Ok(Type::Array(Box::new(if m {
                Type::Mut(Box::new(t))
            } else {
                t
            })));
        }
        if self.is_sym("{") {
            if *self.peek_at(1) == Tok::Sym("#") {
                self.bump();
                let mut tags: Vec<Field> = Vec::new();
                if *self.peek_at(1) == Tok::Sym("}") {
                    self.bump();
                    self.bump();
                    return Ok(Type::Variant(tags));
                }
                while !self.is_sym("}") {
                    let (l, c) = self.here();
                    self.expect_sym("#")?;
                    let lab = self.label()?;
                    let typ = if self.eat_sym(":") {
                        self.typ()?
                    } else {
                        Type::Tup(Vec::new())
                    };
                    if tags.iter().any(|f| f.lab == lab) {
                        return Err(err(l, c, format!("duplicate variant tag `#{lab}`")));
                    }
                    tags.push(Field { lab, typ });
                    if !self.eat_sym(";") {
                        break;
                    }
                }
                self.expect_sym("}")?;
                tags.sort_by(|a, b| a.lab.cmp(&b.lab));
                return Ok(Type::Variant(tags));
            }
            return Ok(Type::Obj(ObjSort::Object, self.obj_fields()?));
        }
        let (l, c) = self.here();
        let name = match self.peek() {
            Tok::Id(s) if !KEYWORDS.contains(&s.as_str()) => s.clone(),
            _ => return self.fail("a type"),
        };
        self.bump();
        if self.is_sym(".") {
            return self.fail("a type name (dotted type paths are not supported)");
        }
        let mut args = Vec::new();
        let has_args = self.eat_sym("<");
        if has_args {
            if !self.is_sym(">") {
                loop {
                    args.push(self.typ()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            }
            self.expect_sym(">")?;
        }
        if let Some(i) = self.params.iter().rposition(|p| *p == name) {
            if has_args {
                return Err(err(
                    l,
                    c,
                    format!("type parameter `{name}` takes no arguments"),
                ));
            }
            return Ok(Type::Param(i));
        }
        if let Some((_, canon)) = self.binders.iter().rev().find(|(n, _)| *n == name) {
            return Ok(Type::Var(canon.clone()));
        }
        if self.defs.contains_key(&name) {
            self.uses.push((name.clone(), args.len(), l, c));
            return Ok(Type::Con(name, args));
        }
        let builtin = match name.as_str() {
            "Any" => Some(Type::Any),
            "None" => Some(Type::Non),
            n => Prim::from_name(n).map(Type::Prim),
        };
        match builtin {
            Some(t) if args.is_empty() => Ok(t),
            Some(_) => Err(err(l, c, format!("type `{name}` takes no arguments"))),
            None => Err(err(l, c, format!("unbound type `{name}`"))),
        }
    }

    /// A field label or variant tag: an identifier (keywords are allowed after `#`).
    fn label(&mut self) -> Result<String, CompatError> {
        match self.peek() {
            Tok::Id(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => self.fail("a label"),
        }
    }

    fn obj_fields(&mut self) -> Result<Vec<Field>, CompatError> {
        self.expect_sym("{")?;
        let mut fields: Vec<Field> = Vec::new();
        while !self.is_sym("}") {
            let (l, c) = self.here();
            if self.is_kw("type") {
                return self.fail("a field (type fields are not supported in stable types)");
            }
            let m = self.eat_kw("var");
            let lab = self.ident()?;
            let typ = if !m && (self.is_sym("(") || self.is_sym("<")) {
                // method sugar: `f(args) : ret`
                let nb = self.binders.len();
                let mut bounds = Vec::new();
                if self.eat_sym("<") {
                    loop {
                        let name = self.ident()?;
                        let canon = format!("${}", self.binders.len());
                        self.binders.push((name, canon));
                        bounds.push(if self.eat_sym("<:") {
                            self.typ()?
                        } else {
                            Type::Any
                        });
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym(">")?;
                }
                let dom = self.typ_nullary()?;
                self.expect_sym(":")?;
                let cod = self.typ()?;
                self.binders.truncate(nb);
                func(FuncSort::Local, bounds, dom, cod)
            } else {
                self.expect_sym(":")?;
                let t = self.typ()?;
                if m {
                    Type::Mut(Box::new(t))
                } else {
                    t
                }
            };
            if fields.iter().any(|f| f.lab == lab) {
                return Err(err(l, c, format!("duplicate field `{lab}`")));
            }
            fields.push(Field { lab, typ });
            if !self.eat_sym(";") {
                break;
            }
        }
        self.expect_sym("}")?;
        fields.sort_by(|a, b| a.lab.cmp(&b.lab));
        Ok(fields)
    }
}

fn seq(t: Type) -> Vec<Type> {
    match t {
        Type::Tup(ts) => ts,
        t => vec![t],
    }
}

/// moc's `funcT` + `check_typ`: `async T` results make a promising function.
fn func(sort: FuncSort, bounds: Vec<Type>, dom: Type, cod: Type) -> Type {
    let (control, rets) = match cod {
        Type::Async(AsyncSort::Fut, t) => (Control::Promises, seq(*t)),
        t => (Control::Returns, seq(t)),
    };
    Type::Func(sort, control, bounds, seq(dom), rets)
}

/// Parses a `.most` text.
pub fn parse(src: &str) -> Result<Signature, CompatError> {
    let (toks, version) = lex(src)?;
    // The names of all definitions, so that bodies may refer to later (or their own) names.
    let mut defs = HashMap::new();
    for w in toks.windows(2) {
        if let (Tok::Id(k), Tok::Id(n)) = (&w[0].tok, &w[1].tok) {
            if k == "type" {
                defs.insert(n.clone(), 0);
            }
        }
    }
    let mut p = Parser {
        toks,
        pos: 0,
        defs,
        params: Vec::new(),
        binders: Vec::new(),
        depth: 0,
        uses: Vec::new(),
    };
    let (defs, sig) = p.signature()?;
    Ok(Signature { version, defs, sig })
}
