//! The calculator: arithmetic and logic expressions, evaluated by evalexpr.

use forge_core::{Error, Tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The longest expression the calculator accepts.
const MAX_EXPRESSION: usize = 512;

/// The calculator's arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CalculatorArgs {
    /// An expression such as `(17 * 23) + 4`, `2.5 ^ 2` or `max(3, 9) % 4`.
    #[schemars(length(min = 1, max = 512))]
    expression: String,
}

/// Evaluates arithmetic expressions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Calculator;

impl Tool for Calculator {
    type Args = CalculatorArgs;
    type Output = Value;

    fn name(&self) -> &str {
        "calculator"
    }

    fn description(&self) -> &str {
        "A calculator: evaluates an arithmetic expression (+ - * / % ^, parentheses, \
         comparisons, min, max, floor, round) and returns its value."
    }

    async fn call(&self, args: CalculatorArgs) -> Result<Value, Error> {
        evaluate(&args.expression)
    }
}

/// Evaluates `expression` into a JSON value.
pub(crate) fn evaluate(expression: &str) -> Result<Value, Error> {
    if expression.len() > MAX_EXPRESSION {
        return Err(Error::tool(format!(
            "the expression is longer than {MAX_EXPRESSION} bytes"
        )));
    }
    let value = evalexpr::eval(expression)
        .map_err(|error| Error::tool(format!("cannot evaluate `{expression}`: {error}")))?;
    Ok(to_json(value))
}

fn to_json(value: evalexpr::Value) -> Value {
    match value {
        evalexpr::Value::String(s) => Value::String(s),
        evalexpr::Value::Float(f) => serde_json::Number::from_f64(f)
            .map_or_else(|| Value::String(f.to_string()), Value::Number),
        evalexpr::Value::Int(i) => Value::from(i),
        evalexpr::Value::Boolean(b) => Value::Bool(b),
        evalexpr::Value::Tuple(items) => Value::Array(items.into_iter().map(to_json).collect()),
        evalexpr::Value::Empty => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_arithmetic() {
        assert_eq!(evaluate("(17 * 23) + 4").unwrap(), Value::from(395));
        assert_eq!(evaluate("2.5 * 2").unwrap(), Value::from(5.0));
        assert_eq!(evaluate("1 < 2").unwrap(), Value::Bool(true));
    }

    #[test]
    fn reports_bad_expressions_as_tool_errors() {
        let error = evaluate("1 +").unwrap_err();
        assert_eq!(error.kind(), forge_core::ErrorKind::ToolFailed);
        assert!(evaluate(&"1+".repeat(400)).is_err());
    }

    #[test]
    fn non_finite_results_become_strings() {
        assert_eq!(evaluate("1.0 / 0.0").unwrap(), Value::String("inf".into()));
    }
}
