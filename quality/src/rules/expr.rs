//! `expression` rules: CEL through the `cel` crate (cel-rust).
//!
//! Refused at registration: text over [`MAX_EXPR_CHARS`] characters, a syntax error, nesting
//! deeper than [`MAX_EXPR_DEPTH`], and a variable that is neither `event` nor a top-level
//! field of the schema. Evaluation is bounded by the expression and the event: CEL has no
//! loops beyond the comprehension macros (`all`, `exists`, `map`, `filter`, …) over lists
//! and maps, which here can only come from the event itself or from literals in the
//! (bounded) expression, nested at most [`MAX_COMPREHENSION_NESTING`] deep (so the work is
//! at most quadratic in the size of the event); the `regex` and time extensions are not
//! compiled in.

use std::collections::HashSet;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr};
use cel::{Context, Env, IdedExpr, Value as CelValue};
use serde_json::Value;

/// Longest expression, in characters.
pub const MAX_EXPR_CHARS: usize = 2_000;
/// Deepest nesting of an expression's syntax tree.
pub const MAX_EXPR_DEPTH: usize = 32;
/// Deepest nesting of comprehensions (`all`, `exists`, `map`, …): each level multiplies the
/// work by the size of the list it walks.
pub const MAX_COMPREHENSION_NESTING: usize = 2;

/// A parsed, checked CEL expression.
pub(crate) struct Expression {
    env: Arc<Env>,
    tree: IdedExpr,
    /// The top-level fields it names (`event` aside), bound per event.
    variables: Box<[Box<str>]>,
    /// Whether it names `event`.
    uses_event: bool,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expression")
            .field("tree", &self.tree)
            .field("variables", &self.variables)
            .field("uses_event", &self.uses_event)
            .finish_non_exhaustive()
    }
}

impl Expression {
    /// Parses and checks `source`; `top_level` are the schema's top-level field names.
    pub(crate) fn compile(source: &str, top_level: &HashSet<&str>) -> Result<Expression, String> {
        let chars = source.chars().count();
        if chars > MAX_EXPR_CHARS {
            return Err(format!(
                "expression is {chars} characters long; at most {MAX_EXPR_CHARS} are allowed"
            ));
        }
        if source.trim().is_empty() {
            return Err(String::from("expression is empty"));
        }
        let env = Arc::new(Env::stdlib());
        let tree = parse(&env, source)?;
        let mut names = Names::default();
        names.walk(&tree, 1, &mut Vec::new())?;
        let mut variables = Vec::new();
        let mut uses_event = false;
        let mut found: Vec<&str> = names.free.iter().map(String::as_str).collect();
        found.sort_unstable();
        for name in found {
            if name == "event" {
                uses_event = true;
            } else if top_level.contains(name) {
                variables.push(Box::from(name));
            } else {
                return Err(format!(
                    "expression names {name:?}, which is neither `event` nor a top-level field of the schema"
                ));
            }
        }
        Ok(Expression {
            env,
            tree,
            variables: variables.into_boxed_slice(),
            uses_event,
        })
    }

    /// Evaluates against `event`: `Ok(())` when it is `true`, else why not.
    pub(crate) fn check(&self, event: &Value) -> Result<(), String> {
        let mut context = Context::with_env(Arc::clone(&self.env));
        for name in &*self.variables {
            let value = event.get(&**name).unwrap_or(&Value::Null);
            context.add_variable_from_value(&**name, to_cel(value)?);
        }
        if self.uses_event {
            context.add_variable_from_value("event", to_cel(event)?);
        }
        match CelValue::resolve(&self.tree, &context) {
            Ok(CelValue::Bool(true)) => Ok(()),
            Ok(CelValue::Bool(false)) => Err(String::from("expression is false")),
            Ok(other) => Err(format!(
                "expression is not a boolean: it gave {}",
                kind_of(&other)
            )),
            Err(error) => Err(format!("expression failed: {error}")),
        }
    }
}

/// Stack of the thread that parses: cel's generated parser recurses deeply per nesting
/// level, more than a 2 MiB runtime thread has for hostile input.
const PARSE_STACK_BYTES: usize = 64 << 20;

/// Parses on a thread of its own with a large stack. The parser's own recursion bound (it
/// counts differently from the tree's depth) keeps it within that stack; the tree's depth is
/// the limit users see.
fn parse(env: &Arc<Env>, source: &str) -> Result<IdedExpr, String> {
    let env = Arc::clone(env);
    let source = source.to_owned();
    let limit = u16::try_from(MAX_EXPR_DEPTH * 3).unwrap_or(u16::MAX);
    let parsing = std::thread::Builder::new()
        .name(String::from("cel-parse"))
        .stack_size(PARSE_STACK_BYTES)
        .spawn(move || {
            env.parser()
                .max_recursion_depth(limit)
                .parse(&source)
                .map_err(|errors| errors.to_string())
        })
        .map_err(|e| format!("cannot start the expression parser: {e}"))?;
    match parsing.join() {
        Ok(Ok(tree)) => Ok(tree),
        Ok(Err(text)) if text.to_ascii_lowercase().contains("recursion") => Err(too_deep()),
        Ok(Err(text)) => Err(format!("expression does not parse: {}", text.trim())),
        Err(_) => Err(String::from(
            "the expression parser failed on this expression",
        )),
    }
}

fn too_deep() -> String {
    format!("expression nests deeper than {MAX_EXPR_DEPTH} levels")
}

fn to_cel(value: &Value) -> Result<CelValue, String> {
    cel::to_value(value).map_err(|e| format!("event cannot be read by the expression: {e}"))
}

fn kind_of(value: &CelValue) -> &'static str {
    match value {
        CelValue::Null => "null",
        CelValue::Int(_) | CelValue::UInt(_) => "an integer",
        CelValue::Float(_) => "a number",
        CelValue::String(_) => "a string",
        CelValue::List(_) => "a list",
        CelValue::Map(_) => "a map",
        _ => "another value",
    }
}

/// The free variables of an expression (comprehension variables are bound within their
/// comprehension), and its depth.
#[derive(Default)]
struct Names {
    free: HashSet<String>,
    /// Comprehensions around the node being walked.
    comprehensions: usize,
}

impl Names {
    fn walk(
        &mut self,
        node: &IdedExpr,
        depth: usize,
        bound: &mut Vec<String>,
    ) -> Result<(), String> {
        if depth > MAX_EXPR_DEPTH {
            return Err(too_deep());
        }
        let next = depth + 1;
        match &node.expr {
            Expr::Ident(name) if !name.starts_with('@') && !bound.contains(name) => {
                self.free.insert(name.clone());
            }
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    self.walk(target, next, bound)?;
                }
                for arg in &call.args {
                    self.walk(arg, next, bound)?;
                }
            }
            Expr::Select(select) => self.walk(&select.operand, next, bound)?,
            Expr::List(list) => {
                for element in &list.elements {
                    self.walk(element, next, bound)?;
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        self.walk(&entry.key, next, bound)?;
                        self.walk(&entry.value, next, bound)?;
                    }
                }
            }
            Expr::Struct(st) => {
                for entry in &st.entries {
                    if let EntryExpr::StructField(field) = &entry.expr {
                        self.walk(&field.value, next, bound)?;
                    }
                }
            }
            Expr::Comprehension(comp) => {
                if self.comprehensions >= MAX_COMPREHENSION_NESTING {
                    return Err(format!(
                        "expression nests comprehensions (all, exists, map, filter, …) more than {MAX_COMPREHENSION_NESTING} deep"
                    ));
                }
                self.walk(&comp.iter_range, next, bound)?;
                self.walk(&comp.accu_init, next, bound)?;
                let before = bound.len();
                bound.push(comp.iter_var.clone());
                if let Some(second) = &comp.iter_var2 {
                    bound.push(second.clone());
                }
                bound.push(comp.accu_var.clone());
                self.comprehensions += 1;
                let walked = self
                    .walk(&comp.loop_cond, next, bound)
                    .and_then(|()| self.walk(&comp.loop_step, next, bound))
                    .and_then(|()| self.walk(&comp.result, next, bound));
                self.comprehensions -= 1;
                bound.truncate(before);
                walked?;
            }
            // Literals, comprehension accumulators and bound names.
            _ => {}
        }
        Ok(())
    }
}
