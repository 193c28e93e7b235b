//! Hand-rolled lexer and parser for the StarRocks SQL subset starpipe and the tests use
//! (§5), plus the expression grammar shared with the Stream Load `columns`/`where` headers.

use crate::catalog::{AlterOp, Column, ColumnPosition, DefaultValue, KeysType};
use crate::types::ColType;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    /// Backquoted identifier: never a keyword.
    Quoted(String),
    Str(String),
    Num(String),
    Var(String),
    Sym(&'static str),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn syntax(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

pub fn lex(s: &str) -> Result<Vec<Tok>, ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') || c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'`' {
            // A quoted identifier; "``" inside stands for one back quote (StarRocks'
            // BACKQUOTED_IDENTIFIER).
            i += 1;
            let mut name = Vec::new();
            loop {
                match (b.get(i), b.get(i + 1)) {
                    (None, _) => return Err(syntax("unterminated backquote")),
                    (Some(b'`'), Some(b'`')) => {
                        name.push(b'`');
                        i += 2;
                    }
                    (Some(b'`'), _) => break,
                    (Some(&ch), _) => {
                        name.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Quoted(String::from_utf8_lossy(&name).into_owned()));
            i += 1;
        } else if c == b'\'' || c == b'"' {
            let q = c;
            i += 1;
            let mut v = Vec::new();
            loop {
                if i >= b.len() {
                    return Err(syntax("unterminated string"));
                }
                let ch = b[i];
                if ch == b'\\' && i + 1 < b.len() {
                    v.push(match b[i + 1] {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'0' => 0,
                        o => o,
                    });
                    i += 2;
                } else if ch == q && b.get(i + 1) == Some(&q) {
                    v.push(q);
                    i += 2;
                } else if ch == q {
                    i += 1;
                    break;
                } else {
                    v.push(ch);
                    i += 1;
                }
            }
            out.push(Tok::Str(String::from_utf8_lossy(&v).into_owned()));
        } else if c.is_ascii_digit()
            || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                if (b[i] == b'e' || b[i] == b'E') && matches!(b.get(i + 1), Some(b'-' | b'+')) {
                    i += 1;
                }
                i += 1;
            }
            out.push(Tok::Num(s[start..i].to_string()));
        } else if c == b'@' {
            let start = i;
            while i < b.len()
                && (b[i] == b'@' || b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
            {
                i += 1;
            }
            out.push(Tok::Var(s[start..i].to_string()));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let sym: &'static str = match two {
                "<=" => "<=",
                ">=" => ">=",
                "<>" => "<>",
                "!=" => "!=",
                _ => match c {
                    b'(' => "(",
                    b')' => ")",
                    b',' => ",",
                    b';' => ";",
                    b'=' => "=",
                    b'<' => "<",
                    b'>' => ">",
                    b'*' => "*",
                    b'.' => ".",
                    b'+' => "+",
                    b'-' => "-",
                    b'/' => "/",
                    b'%' => "%",
                    _ => return Err(syntax(format!("unexpected character '{}'", c as char))),
                },
            };
            i += sym.len();
            out.push(Tok::Sym(sym));
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Null,
    Int(i128),
    Num(String),
    Str(String),
    Bool(bool),
    Col(String),
    Var(String),
    Star,
    Cmp(Box<Expr>, &'static str, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        neg: bool,
    },
    IsNull(Box<Expr>, bool),
    Func(String, Vec<Expr>),
    Neg(Box<Expr>),
    Arith(Box<Expr>, &'static str, Box<Expr>),
    Like(Box<Expr>, String, bool),
}

#[derive(Clone, Debug)]
pub struct SelectItem {
    pub expr: Expr,
    pub alias: Option<String>,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Select {
    pub items: Vec<SelectItem>,
    pub from: Option<(Option<String>, String)>,
    pub filter: Option<Expr>,
    pub order: Vec<(Expr, bool)>,
    pub limit: Option<u64>,
    pub offset: u64,
}

#[derive(Clone, Debug)]
pub struct CreateTable {
    pub if_not_exists: bool,
    pub db: Option<String>,
    pub name: String,
    pub columns: Vec<Column>,
    pub keys: Option<(KeysType, Vec<String>)>,
    pub comment: String,
    pub partition_by: Option<String>,
    pub distribution: Option<(Option<Vec<String>>, Option<u32>)>,
    pub order_by: Vec<String>,
    pub properties: Vec<(String, String)>,
}

/// One value of an `INSERT ... VALUES` row.
#[derive(Clone, Debug)]
pub enum InsertValue {
    Expr(Expr),
    /// The `DEFAULT` keyword.
    Default,
}

#[derive(Clone, Debug)]
pub struct Insert {
    pub db: Option<String>,
    pub table: String,
    pub label: Option<String>,
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<InsertValue>>,
}

#[derive(Clone, Debug)]
pub enum AlterAction {
    Ops(Vec<AlterOp>),
    Rename(String),
    RenameColumn { from: String, to: String },
    Set(Vec<(String, String)>),
    Comment(String),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Empty,
    Set,
    Use(String),
    Select(Select),
    ShowDatabases,
    ShowTables {
        db: Option<String>,
        full: bool,
    },
    ShowCreateTable(Option<String>, String),
    ShowGrants,
    ShowBackends,
    ShowFrontends,
    ShowVariables(Option<String>),
    ShowAlter {
        db: Option<String>,
        filter: Option<Expr>,
        order: Vec<(Expr, bool)>,
        limit: Option<u64>,
    },
    ShowColumns(Option<String>, String),
    Desc(Option<String>, String),
    CreateDatabase {
        name: String,
        if_not_exists: bool,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
    },
    CreateTable(Box<CreateTable>),
    DropTable {
        db: Option<String>,
        name: String,
        if_exists: bool,
    },
    Truncate(Option<String>, String),
    Alter {
        db: Option<String>,
        name: String,
        action: AlterAction,
    },
    CancelAlter(Option<String>, String),
    Insert(Box<Insert>),
    Delete {
        db: Option<String>,
        table: String,
        filter: Option<Expr>,
    },
    Update {
        db: Option<String>,
        table: String,
        sets: Vec<(String, Expr)>,
        filter: Option<Expr>,
    },
    Begin,
    Commit,
    Rollback,
}

pub struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    pub fn new(s: &str) -> Result<Parser, ParseError> {
        Ok(Parser {
            toks: lex(s)?,
            pos: 0,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(kw))
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), ParseError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected(s))
        }
    }

    fn unexpected(&self, wanted: &str) -> ParseError {
        let got = match self.peek() {
            None => "<EOF>".to_string(),
            Some(Tok::Ident(s) | Tok::Quoted(s) | Tok::Num(s) | Tok::Var(s)) => s.clone(),
            Some(Tok::Str(s)) => format!("'{s}'"),
            Some(Tok::Sym(s)) => s.to_string(),
        };
        syntax(format!(
            "Getting syntax error at line 1, column {}. Detail message: Unexpected input '{got}', the most similar input is {{{wanted}}}.",
            self.pos
        ))
    }

    pub fn ident(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Ident(s)) | Some(Tok::Quoted(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("identifier"))
            }
        }
    }

    /// `name` or `db.name`.
    fn qualified(&mut self) -> Result<(Option<String>, String), ParseError> {
        let a = self.ident()?;
        if self.eat_sym(".") {
            let b = self.ident()?;
            Ok((Some(a), b))
        } else {
            Ok((None, a))
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("string"))
            }
        }
    }

    fn number(&mut self) -> Result<u64, ParseError> {
        match self.next() {
            Some(Tok::Num(s)) => s.parse().map_err(|_| syntax(format!("bad number {s}"))),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("number"))
            }
        }
    }

    fn ident_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_sym("(")?;
        let mut v = vec![self.ident()?];
        while self.eat_sym(",") {
            v.push(self.ident()?);
        }
        self.expect_sym(")")?;
        Ok(v)
    }

    pub fn statement(&mut self) -> Result<Stmt, ParseError> {
        let stmt = self.statement_inner()?;
        self.eat_sym(";");
        if !self.at_end() {
            return Err(self.unexpected("<EOF>"));
        }
        Ok(stmt)
    }

    fn statement_inner(&mut self) -> Result<Stmt, ParseError> {
        if self.at_end() {
            return Ok(Stmt::Empty);
        }
        if self.eat_kw("SET") {
            self.pos = self.toks.len();
            return Ok(Stmt::Set);
        }
        if self.eat_kw("USE") {
            let (db, name) = self.qualified()?;
            return Ok(Stmt::Use(db.map(|d| format!("{d}.{name}")).unwrap_or(name)));
        }
        if self.eat_kw("BEGIN") || self.eat_kw("START") {
            self.pos = self.toks.len();
            return Ok(Stmt::Begin);
        }
        if self.eat_kw("COMMIT") {
            return Ok(Stmt::Commit);
        }
        if self.eat_kw("ROLLBACK") {
            return Ok(Stmt::Rollback);
        }
        if self.is_kw("SELECT") {
            return Ok(Stmt::Select(self.select()?));
        }
        if self.eat_kw("DESC") || self.eat_kw("DESCRIBE") {
            let (db, t) = self.qualified()?;
            return Ok(Stmt::Desc(db, t));
        }
        if self.eat_kw("SHOW") {
            return self.show();
        }
        if self.eat_kw("CREATE") {
            if self.eat_kw("DATABASE") || self.eat_kw("SCHEMA") {
                let ine = self.if_not_exists()?;
                return Ok(Stmt::CreateDatabase {
                    name: self.ident()?,
                    if_not_exists: ine,
                });
            }
            self.eat_kw("EXTERNAL");
            self.expect_kw("TABLE")?;
            return Ok(Stmt::CreateTable(Box::new(self.create_table()?)));
        }
        if self.eat_kw("DROP") {
            if self.eat_kw("DATABASE") || self.eat_kw("SCHEMA") {
                let ie = self.if_exists()?;
                let name = self.ident()?;
                self.eat_kw("FORCE");
                return Ok(Stmt::DropDatabase {
                    name,
                    if_exists: ie,
                });
            }
            self.expect_kw("TABLE")?;
            let ie = self.if_exists()?;
            let (db, name) = self.qualified()?;
            self.eat_kw("FORCE");
            return Ok(Stmt::DropTable {
                db,
                name,
                if_exists: ie,
            });
        }
        if self.eat_kw("TRUNCATE") {
            self.eat_kw("TABLE");
            let (db, name) = self.qualified()?;
            return Ok(Stmt::Truncate(db, name));
        }
        if self.eat_kw("ALTER") {
            self.expect_kw("TABLE")?;
            let (db, name) = self.qualified()?;
            let action = self.alter_action()?;
            return Ok(Stmt::Alter { db, name, action });
        }
        if self.eat_kw("INSERT") {
            return self.insert();
        }
        if self.eat_kw("DELETE") {
            self.expect_kw("FROM")?;
            let (db, table) = self.qualified()?;
            let filter = self.where_clause()?;
            return Ok(Stmt::Delete { db, table, filter });
        }
        if self.eat_kw("UPDATE") {
            let (db, table) = self.qualified()?;
            self.expect_kw("SET")?;
            let mut sets = Vec::new();
            loop {
                let col = self.ident()?;
                self.expect_sym("=")?;
                sets.push((col, self.expr()?));
                if !self.eat_sym(",") {
                    break;
                }
            }
            let filter = self.where_clause()?;
            return Ok(Stmt::Update {
                db,
                table,
                sets,
                filter,
            });
        }
        if self.eat_kw("CANCEL") {
            self.expect_kw("ALTER")?;
            self.expect_kw("TABLE")?;
            self.eat_kw("COLUMN");
            self.expect_kw("FROM")?;
            let (db, name) = self.qualified()?;
            return Ok(Stmt::CancelAlter(db, name));
        }
        Err(self.unexpected("SELECT, SHOW, CREATE, DROP, ALTER, ..."))
    }

    fn where_clause(&mut self) -> Result<Option<Expr>, ParseError> {
        if self.eat_kw("WHERE") {
            return Ok(Some(self.expr()?));
        }
        Ok(None)
    }

    /// `INSERT INTO [db.]t [WITH LABEL l] [(cols)] VALUES (...), (...)`.
    fn insert(&mut self) -> Result<Stmt, ParseError> {
        if self.is_kw("OVERWRITE") {
            return Err(syntax("INSERT OVERWRITE is not supported by starrocks-sim"));
        }
        self.expect_kw("INTO")?;
        let (db, table) = self.qualified()?;
        let label = if self.eat_kw("WITH") {
            self.expect_kw("LABEL")?;
            Some(self.ident()?)
        } else {
            None
        };
        let columns = if self.is_sym("(") {
            Some(self.ident_list()?)
        } else {
            None
        };
        if self.is_kw("SELECT") {
            return Err(syntax(
                "INSERT ... SELECT is not supported by starrocks-sim",
            ));
        }
        self.expect_kw("VALUES")?;
        let mut rows = Vec::new();
        loop {
            self.expect_sym("(")?;
            let mut row = Vec::new();
            if !self.is_sym(")") {
                loop {
                    row.push(self.insert_value()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            }
            self.expect_sym(")")?;
            rows.push(row);
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(Stmt::Insert(Box::new(Insert {
            db,
            table,
            label,
            columns,
            rows,
        })))
    }

    fn insert_value(&mut self) -> Result<InsertValue, ParseError> {
        let default_kw = self.is_kw("DEFAULT")
            && matches!(self.peek_at(1), Some(Tok::Sym(",")) | Some(Tok::Sym(")")));
        if default_kw {
            self.pos += 1;
            return Ok(InsertValue::Default);
        }
        Ok(InsertValue::Expr(self.expr()?))
    }

    fn if_not_exists(&mut self) -> Result<bool, ParseError> {
        if self.eat_kw("IF") {
            self.expect_kw("NOT")?;
            self.expect_kw("EXISTS")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn if_exists(&mut self) -> Result<bool, ParseError> {
        if self.eat_kw("IF") {
            self.expect_kw("EXISTS")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn show(&mut self) -> Result<Stmt, ParseError> {
        if self.eat_kw("DATABASES") || self.eat_kw("SCHEMAS") {
            return Ok(Stmt::ShowDatabases);
        }
        let full = self.eat_kw("FULL");
        if self.eat_kw("TABLES") {
            let db = if self.eat_kw("FROM") || self.eat_kw("IN") {
                Some(self.ident()?)
            } else {
                None
            };
            self.pos = self.toks.len();
            return Ok(Stmt::ShowTables { db, full });
        }
        if self.eat_kw("COLUMNS") || self.eat_kw("FIELDS") {
            if !(self.eat_kw("FROM") || self.eat_kw("IN")) {
                return Err(self.unexpected("FROM"));
            }
            let (mut db, t) = self.qualified()?;
            if self.eat_kw("FROM") || self.eat_kw("IN") {
                db = Some(self.ident()?);
            }
            return Ok(Stmt::ShowColumns(db, t));
        }
        if self.eat_kw("CREATE") {
            self.expect_kw("TABLE")?;
            let (db, t) = self.qualified()?;
            return Ok(Stmt::ShowCreateTable(db, t));
        }
        if self.eat_kw("GRANTS") {
            self.pos = self.toks.len();
            return Ok(Stmt::ShowGrants);
        }
        if self.eat_kw("BACKENDS") || (self.eat_kw("COMPUTE") && self.eat_kw("NODES")) {
            return Ok(Stmt::ShowBackends);
        }
        if self.eat_kw("FRONTENDS") {
            return Ok(Stmt::ShowFrontends);
        }
        if self.eat_kw("VARIABLES") || (self.eat_kw("SESSION") && self.eat_kw("VARIABLES")) {
            let like = if self.eat_kw("LIKE") {
                Some(self.string()?)
            } else {
                None
            };
            self.pos = self.toks.len();
            return Ok(Stmt::ShowVariables(like));
        }
        if self.eat_kw("ALTER") {
            self.expect_kw("TABLE")?;
            self.expect_kw("COLUMN")?;
            let db = if self.eat_kw("FROM") || self.eat_kw("IN") {
                Some(self.ident()?)
            } else {
                None
            };
            let filter = if self.eat_kw("WHERE") {
                Some(self.expr()?)
            } else {
                None
            };
            let order = self.order_by()?;
            let limit = if self.eat_kw("LIMIT") {
                Some(self.number()?)
            } else {
                None
            };
            return Ok(Stmt::ShowAlter {
                db,
                filter,
                order,
                limit,
            });
        }
        Err(self.unexpected("DATABASES, TABLES, CREATE TABLE, ALTER TABLE COLUMN, ..."))
    }

    fn order_by(&mut self) -> Result<Vec<(Expr, bool)>, ParseError> {
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let e = self.expr()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                order.push((e, desc));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        Ok(order)
    }

    fn select(&mut self) -> Result<Select, ParseError> {
        self.expect_kw("SELECT")?;
        let mut items = Vec::new();
        loop {
            let start = self.pos;
            let expr = self.expr()?;
            let text = tokens_text(&self.toks[start..self.pos]);
            let alias = if self.eat_kw("AS") {
                Some(self.ident().or_else(|_| self.string())?)
            } else if matches!(self.peek(), Some(Tok::Quoted(_)))
                || (matches!(self.peek(), Some(Tok::Ident(_)))
                    && !["FROM", "WHERE", "ORDER", "LIMIT"]
                        .iter()
                        .any(|k| self.is_kw(k)))
            {
                Some(self.ident()?)
            } else {
                None
            };
            items.push(SelectItem { expr, alias, text });
            if !self.eat_sym(",") {
                break;
            }
        }
        let from = if self.eat_kw("FROM") {
            let q = self.qualified()?;
            // Optional table alias.
            if self.eat_kw("AS")
                || matches!(self.peek(), Some(Tok::Ident(s)) if !["WHERE","ORDER","LIMIT"].iter().any(|k| s.eq_ignore_ascii_case(k)))
            {
                self.ident()?;
            }
            Some(q)
        } else {
            None
        };
        let filter = if self.eat_kw("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        let order = self.order_by()?;
        let mut limit = None;
        let mut offset = 0;
        if self.eat_kw("LIMIT") {
            let a = self.number()?;
            if self.eat_sym(",") {
                offset = a;
                limit = Some(self.number()?);
            } else {
                limit = Some(a);
                if self.eat_kw("OFFSET") {
                    offset = self.number()?;
                }
            }
        }
        Ok(Select {
            items,
            from,
            filter,
            order,
            limit,
            offset,
        })
    }

    fn create_table(&mut self) -> Result<CreateTable, ParseError> {
        let ine = self.if_not_exists()?;
        let (db, name) = self.qualified()?;
        self.expect_sym("(")?;
        let mut columns = Vec::new();
        let mut inline_keys = None;
        loop {
            if self.is_kw("PRIMARY") || self.is_kw("INDEX") || self.is_kw("KEY") {
                // Inline `PRIMARY KEY (...)` inside the column list / index definitions.
                if self.eat_kw("PRIMARY") {
                    self.expect_kw("KEY")?;
                    inline_keys = Some(self.ident_list()?);
                } else {
                    self.skip_balanced_until_comma()?;
                }
            } else {
                columns.push(self.column_def()?);
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        let mut ct = CreateTable {
            if_not_exists: ine,
            db,
            name,
            columns,
            keys: inline_keys.map(|k| (KeysType::Primary, k)),
            comment: String::new(),
            partition_by: None,
            distribution: None,
            order_by: Vec::new(),
            properties: Vec::new(),
        };
        while !self.at_end() && !self.is_sym(";") {
            if self.eat_kw("ENGINE") {
                self.eat_sym("=");
                self.ident()?;
            } else if self.is_kw("PRIMARY")
                || self.is_kw("DUPLICATE")
                || self.is_kw("UNIQUE")
                || self.is_kw("AGGREGATE")
            {
                let kt = match self.ident()?.to_ascii_uppercase().as_str() {
                    "PRIMARY" => KeysType::Primary,
                    "DUPLICATE" => KeysType::Duplicate,
                    "UNIQUE" => KeysType::Unique,
                    _ => KeysType::Aggregate,
                };
                self.expect_kw("KEY")?;
                ct.keys = Some((kt, self.ident_list()?));
            } else if self.eat_kw("COMMENT") {
                self.eat_sym("=");
                ct.comment = self.string()?;
            } else if self.eat_kw("PARTITION") {
                let start = self.pos - 1;
                self.expect_kw("BY")?;
                // Keep the clause text; partitions are not modelled.
                while !self.at_end()
                    && !self.is_kw("DISTRIBUTED")
                    && !self.is_kw("PROPERTIES")
                    && !self.is_kw("ORDER")
                {
                    self.next();
                }
                ct.partition_by = Some(tokens_text(&self.toks[start..self.pos]));
            } else if self.eat_kw("DISTRIBUTED") {
                self.expect_kw("BY")?;
                let cols = if self.eat_kw("HASH") {
                    Some(self.ident_list()?)
                } else {
                    self.expect_kw("RANDOM")?;
                    None
                };
                let buckets = if self.eat_kw("BUCKETS") {
                    if self.eat_kw("AUTO") {
                        None
                    } else {
                        Some(self.number()? as u32)
                    }
                } else {
                    None
                };
                ct.distribution = Some((cols, buckets));
            } else if self.eat_kw("ORDER") {
                self.expect_kw("BY")?;
                ct.order_by = self.ident_list()?;
            } else if self.eat_kw("PROPERTIES") {
                ct.properties = self.properties()?;
            } else {
                return Err(self.unexpected(
                    "ENGINE, KEY, COMMENT, PARTITION, DISTRIBUTED, ORDER BY, PROPERTIES",
                ));
            }
        }
        Ok(ct)
    }

    fn skip_balanced_until_comma(&mut self) -> Result<(), ParseError> {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                Tok::Sym("(") => depth += 1,
                Tok::Sym(")") if depth == 0 => return Ok(()),
                Tok::Sym(")") => depth -= 1,
                Tok::Sym(",") if depth == 0 => return Ok(()),
                _ => {}
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn properties(&mut self) -> Result<Vec<(String, String)>, ParseError> {
        self.expect_sym("(")?;
        let mut v = Vec::new();
        if self.eat_sym(")") {
            return Ok(v);
        }
        loop {
            let k = self.string()?;
            self.expect_sym("=")?;
            let val = self.string()?;
            v.push((k, val));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        Ok(v)
    }

    fn col_type(&mut self) -> Result<ColType, ParseError> {
        let name = self.ident()?;
        let mut args = Vec::new();
        if self.eat_sym("(") {
            loop {
                args.push(self.number()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
        }
        // `INT UNSIGNED` etc. are MySQL spellings StarRocks rejects; keep the error readable.
        ColType::from_sql(&name, &args).map_err(ParseError)
    }

    pub fn column_def(&mut self) -> Result<Column, ParseError> {
        let name = self.ident()?;
        let ty = self.col_type()?;
        let mut col = Column {
            name,
            ty,
            nullable: true,
            default: None,
            comment: String::new(),
            agg: None,
            auto_increment: false,
        };
        loop {
            if self.is_kw("SUM")
                || self.is_kw("MAX")
                || self.is_kw("MIN")
                || self.is_kw("REPLACE")
                || self.is_kw("REPLACE_IF_NOT_NULL")
                || self.is_kw("HLL_UNION")
                || self.is_kw("BITMAP_UNION")
            {
                col.agg = Some(self.ident()?.to_ascii_uppercase());
            } else if self.eat_kw("NOT") {
                self.expect_kw("NULL")?;
                col.nullable = false;
            } else if self.eat_kw("NULL") {
                col.nullable = true;
            } else if self.eat_kw("DEFAULT") {
                col.default = Some(match self.next() {
                    Some(Tok::Str(s)) | Some(Tok::Num(s)) => DefaultValue::Literal(s),
                    Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("CURRENT_TIMESTAMP") => {
                        if self.eat_sym("(") {
                            self.expect_sym(")")?;
                        }
                        DefaultValue::CurrentTimestamp
                    }
                    Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("NULL") => {
                        DefaultValue::Literal(String::new())
                    }
                    Some(Tok::Sym("-")) => match self.next() {
                        Some(Tok::Num(n)) => DefaultValue::Literal(format!("-{n}")),
                        _ => return Err(syntax("bad DEFAULT value")),
                    },
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected("default value"));
                    }
                });
                if col.default == Some(DefaultValue::Literal(String::new())) {
                    col.default = None;
                }
            } else if self.eat_kw("COMMENT") {
                col.comment = self.string()?;
            } else if self.eat_kw("AUTO_INCREMENT") {
                col.auto_increment = true;
            } else if self.eat_kw("KEY") {
                // `k INT KEY` marks a key column in old-style DDL; ignored.
            } else {
                break;
            }
        }
        Ok(col)
    }

    fn position(&mut self) -> Result<Option<ColumnPosition>, ParseError> {
        if self.eat_kw("FIRST") {
            return Ok(Some(ColumnPosition::First));
        }
        if self.eat_kw("AFTER") {
            return Ok(Some(ColumnPosition::After(self.ident()?)));
        }
        Ok(None)
    }

    fn alter_action(&mut self) -> Result<AlterAction, ParseError> {
        if self.eat_kw("RENAME") {
            // `RENAME COLUMN <old> [TO] <new>` (3.3.2+); `RENAME <new_table>` otherwise.
            if self.eat_kw("COLUMN") {
                let from = self.ident()?;
                self.eat_kw("TO");
                let to = self.ident()?;
                return Ok(AlterAction::RenameColumn { from, to });
            }
            return Ok(AlterAction::Rename(self.ident()?));
        }
        if self.eat_kw("SET") {
            return Ok(AlterAction::Set(self.properties()?));
        }
        if self.eat_kw("COMMENT") {
            self.eat_sym("=");
            return Ok(AlterAction::Comment(self.string()?));
        }
        let mut ops = Vec::new();
        loop {
            if self.eat_kw("ADD") {
                self.eat_kw("COLUMN");
                if self.eat_sym("(") {
                    loop {
                        ops.push(AlterOp::Add {
                            col: self.column_def()?,
                            position: None,
                        });
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym(")")?;
                } else {
                    let col = self.column_def()?;
                    let position = self.position()?;
                    ops.push(AlterOp::Add { col, position });
                }
            } else if self.eat_kw("DROP") {
                self.eat_kw("COLUMN");
                ops.push(AlterOp::Drop(self.ident()?));
            } else if self.eat_kw("MODIFY") {
                self.eat_kw("COLUMN");
                let col = self.column_def()?;
                let position = self.position()?;
                ops.push(AlterOp::Modify { col, position });
            } else {
                return Err(self.unexpected("ADD COLUMN, DROP COLUMN, MODIFY COLUMN, RENAME"));
            }
            if self.eat_kw("PROPERTIES") {
                self.properties()?;
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(AlterAction::Ops(ops))
    }

    // ---- expressions: OR > AND > NOT > comparison > additive > unary > primary ----

    pub fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut l = self.and_expr()?;
        while self.eat_kw("OR") || self.eat_sym("||") {
            let r = self.and_expr()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut l = self.not_expr()?;
        while self.eat_kw("AND") {
            let r = self.not_expr()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.cmp_expr()
    }

    fn cmp_expr(&mut self) -> Result<Expr, ParseError> {
        let l = self.add_expr()?;
        if let Some(Tok::Sym(s)) = self.peek() {
            let op = *s;
            if matches!(op, "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") {
                self.pos += 1;
                let r = self.add_expr()?;
                return Ok(Expr::Cmp(Box::new(l), op, Box::new(r)));
            }
        }
        if self.eat_kw("IS") {
            let neg = self.eat_kw("NOT");
            self.expect_kw("NULL")?;
            return Ok(Expr::IsNull(Box::new(l), neg));
        }
        let neg = if self.is_kw("NOT") && (self.is_kw_at(1, "IN") || self.is_kw_at(1, "LIKE")) {
            self.pos += 1;
            true
        } else {
            false
        };
        if self.eat_kw("IN") {
            if let Expr::Func(name, _) = &l
                && name.is_empty()
            {
                // Row-value IN list is not in the StarRocks grammar (§5.7).
                return Err(self.unexpected("("));
            }
            self.expect_sym("(")?;
            let mut list = Vec::new();
            if !self.is_sym(")") {
                loop {
                    list.push(self.expr()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            }
            self.expect_sym(")")?;
            return Ok(Expr::In {
                expr: Box::new(l),
                list,
                neg,
            });
        }
        if self.eat_kw("LIKE") {
            let pat = self.string()?;
            return Ok(Expr::Like(Box::new(l), pat, neg));
        }
        Ok(l)
    }

    fn add_expr(&mut self) -> Result<Expr, ParseError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym(s)) if matches!(*s, "+" | "-" | "*" | "/" | "%") => *s,
                _ => break,
            };
            self.pos += 1;
            let r = self.unary()?;
            l = Expr::Arith(Box::new(l), op, Box::new(r));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.eat_sym("-") {
            return Ok(match self.unary()? {
                Expr::Int(i) => Expr::Int(-i),
                Expr::Num(n) => Expr::Num(format!("-{n}")),
                e => Expr::Neg(Box::new(e)),
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        match self.next() {
            None => Err(self.unexpected("expression")),
            Some(Tok::Num(n)) => Ok(match n.parse::<i128>() {
                Ok(i) => Expr::Int(i),
                Err(_) => Expr::Num(n),
            }),
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Var(v)) => Ok(Expr::Var(v)),
            Some(Tok::Sym("*")) => Ok(Expr::Star),
            Some(Tok::Sym("(")) => {
                let e = self.expr()?;
                if self.eat_sym(",") {
                    // A row value `(a, b)`; only legal as a function-less tuple we then reject.
                    let mut items = vec![e];
                    loop {
                        items.push(self.expr()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym(")")?;
                    return Ok(Expr::Func(String::new(), items));
                }
                self.expect_sym(")")?;
                Ok(e)
            }
            Some(Tok::Quoted(q)) => {
                if self.eat_sym(".") {
                    let c = self.ident()?;
                    return Ok(Expr::Col(c));
                }
                Ok(Expr::Col(q))
            }
            Some(Tok::Ident(id)) => {
                let up = id.to_ascii_uppercase();
                match up.as_str() {
                    "NULL" => return Ok(Expr::Null),
                    "TRUE" => return Ok(Expr::Bool(true)),
                    "FALSE" => return Ok(Expr::Bool(false)),
                    _ => {}
                }
                if self.eat_sym("(") {
                    let mut args = Vec::new();
                    if !self.is_sym(")") {
                        loop {
                            args.push(self.expr()?);
                            if !self.eat_sym(",") {
                                break;
                            }
                        }
                    }
                    self.expect_sym(")")?;
                    return Ok(Expr::Func(up, args));
                }
                if self.eat_sym(".") {
                    // table.column: the qualifier is ignored (single-table queries only).
                    if self.eat_sym("*") {
                        return Ok(Expr::Star);
                    }
                    let c = self.ident()?;
                    return Ok(Expr::Col(c));
                }
                Ok(Expr::Col(id))
            }
            Some(Tok::Sym(_)) => {
                self.pos -= 1;
                Err(self.unexpected("expression"))
            }
        }
    }
}

fn tokens_text(toks: &[Tok]) -> String {
    let mut s = String::new();
    for (i, t) in toks.iter().enumerate() {
        let piece = match t {
            Tok::Ident(x) | Tok::Num(x) | Tok::Var(x) => x.clone(),
            Tok::Quoted(x) => x.clone(),
            Tok::Str(x) => format!("'{x}'"),
            Tok::Sym(x) => x.to_string(),
        };
        let glue = matches!(t, Tok::Sym("(" | ")" | "," | "."))
            || matches!(toks.get(i.wrapping_sub(1)), Some(Tok::Sym("(" | ".")));
        if i > 0 && !glue {
            s.push(' ');
        }
        s.push_str(&piece);
    }
    s
}

/// Parses one statement.
pub fn parse(sql: &str) -> Result<Stmt, ParseError> {
    Parser::new(sql)?.statement()
}

/// Parses a standalone expression (Stream Load `where` header).
pub fn parse_expr(s: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(s)?;
    let e = p.expr()?;
    if !p.at_end() {
        return Err(p.unexpected("<EOF>"));
    }
    Ok(e)
}

/// One item of the Stream Load `columns` header: `name` or `name = expr`.
#[derive(Clone, Debug)]
pub struct ColumnItem {
    pub name: String,
    pub expr: Option<Expr>,
}

pub fn parse_columns_header(s: &str) -> Result<Vec<ColumnItem>, ParseError> {
    let mut p = Parser::new(s)?;
    let mut items = Vec::new();
    loop {
        let name = p.ident()?;
        let expr = if p.eat_sym("=") {
            Some(p.expr()?)
        } else {
            None
        };
        items.push(ColumnItem { name, expr });
        if !p.eat_sym(",") {
            break;
        }
    }
    if !p.at_end() {
        return Err(p.unexpected(","));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_create_table() {
        let s = parse(
            "CREATE TABLE IF NOT EXISTS `shop`.`orders` (`id` BIGINT NOT NULL COMMENT \"\", `v` DECIMAL(18,2) NULL) ENGINE=OLAP PRIMARY KEY(`id`) COMMENT \"x\" DISTRIBUTED BY HASH(`id`) BUCKETS 8 PROPERTIES(\"replication_num\" = \"1\")",
        )
        .unwrap();
        let Stmt::CreateTable(ct) = s else { panic!() };
        assert_eq!(ct.columns.len(), 2);
        assert_eq!(ct.keys.unwrap().1, vec!["id".to_string()]);
    }

    #[test]
    fn rejects_tuple_in() {
        assert!(parse("SELECT * FROM t WHERE (a, b) IN ((1, 2))").is_err());
        assert!(parse("SELECT * FROM t WHERE (a = 1 AND b = 2) OR (a = 3 AND b = 4)").is_ok());
    }

    #[test]
    fn columns_header() {
        let c = parse_columns_header("id, `create`, __op='delete'").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].expr, Some(Expr::Str("delete".into())));
        assert!(parse_columns_header("id, create").is_ok());
    }
}
